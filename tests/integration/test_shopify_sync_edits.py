"""Issue 22: a manager's edit of an order's shipping address and note reaches the order in
Shopify (on the emulators, against the Shopify stand-in) as one ``orderUpdate``, however
often it is delivered; Shopify's ``orders/updated`` echo writes nothing back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from orderhub.order_form import actions
from orderhub.shopify_sync import plan
from tests.integration.test_shopify_sync import SHOP, Env, env, form_order
from tests.integration.test_shopify_sync_actions import action

__all__ = ["env"]  # the fixture, shared with test_shopify_sync


def echo(rest: dict[str, Any]) -> Any:
    """The canonical event of Shopify's ``orders/updated`` webhook for ``rest``."""
    from orderhub.sources.shopify import Delivery, normalise

    now = datetime.now(UTC)
    body = json.dumps(rest).encode()
    raw = {
        "raw_id": f"raw-echo-{rest['id']}",
        "kind": "shopify_webhook",
        "received_at": now.isoformat(),
        "sha256": "x",
        "body": body.decode(),
        "meta": {"topic": "orders/updated"},
    }
    delivery = Delivery("orders/updated", SHOP, f"w-echo-{rest['id']}", None, None, now)
    return normalise(delivery, body, raw)


ADDRESS = {
    "ship_name": "Ana Lima",
    "ship_address1": "Rua Augusta 10",
    "ship_address2": "3 esq",
    "ship_city": "Lisboa",
    "ship_zip": "1100-048",
    "ship_country_code": "pt",
    "ship_phone": "+351912345678",
}


def test_an_edit_of_address_and_note_reaches_the_shopify_order_once(env: Env) -> None:
    env.switches(SHOP, **{"outbound.orders": "on"})
    created = form_order()
    assert env.post(created) == 200
    [order] = env.orders()
    writes = env.standins[SHOP].writes
    before = writes.counts.get("orderUpdate", 0)

    read = actions.read_edit({**ADDRESS, "note": "leave at the door"})
    edit = action(created, kind="edit", shipping_address=read.shipping_address, note=read.note)
    assert env.post(edit) == 200
    assert env.post(edit) == 200  # redelivered: one write
    assert writes.counts["orderUpdate"] == before + 1
    assert order["note"] == "leave at the door"
    address = order["shipping_address"]
    assert (address["address1"], address["address2"], address["city"], address["zip"]) == (
        "Rua Augusta 10",
        "3 esq",
        "Lisboa",
        "1100-048",
    )
    assert address["country_code"] == "PT" and address["name"] == "Ana Lima"
    status = env.status(created["entity_id"], entity="order_edit")
    assert status["status"] == "synced"
    assert "shipping address and note changed in Shopify" in status["reason"]

    # Shopify's orders/updated for our write comes back as the order's own version: the
    # sync writes nothing back (no loop), and the CRM's edit stays what the CRM shows.
    assert env.post(echo(order)) == 200
    assert writes.counts["orderUpdate"] == before + 1

    # The note alone: the address in Shopify stays.
    note_only = action(created, kind="edit", note="")
    assert env.post(note_only) == 200
    assert order["note"] is None and order["shipping_address"]["address1"] == "Rua Augusta 10"
    assert writes.counts["orderUpdate"] == before + 2


def test_an_edit_of_an_order_not_in_shopify_says_so_and_writes_nothing(env: Env) -> None:
    env.switches(SHOP, **{"outbound.orders": "off"})
    created = form_order()
    assert env.post(created) == 200
    edit = action(created, kind="edit", note="call first")
    assert env.post(edit) == 200
    assert "orderUpdate" not in env.standins[SHOP].writes.counts
    assert "switched off" in env.status(created["entity_id"], entity="order_edit")["reason"]


def test_the_edit_input_is_the_note_and_the_address_shopify_takes() -> None:
    read = actions.read_edit({**ADDRESS, "note": "n"})
    event = action(form_order(), kind="edit", shipping_address=read.shipping_address, note="n")
    fields = plan.edit_input(event["entity"])
    assert fields == {
        "note": "n",
        "shippingAddress": {
            "firstName": "Ana",
            "lastName": "Lima",
            "address1": "Rua Augusta 10",
            "address2": "3 esq",
            "city": "Lisboa",
            "zip": "1100-048",
            "countryCode": "PT",
            "phone": "+351912345678",
        },
    }
