"""Issue 15, CRM edits of an order already in Shopify (on the emulators, against the Shopify
stand-in): the note, the tags and "paid" are pushed once, an older version never
overwrites a newer one, and Shopify's own webhook for our write does not come back."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from devstack.standins import shopify_writes
from orderhub.event import Event
from orderhub.sources import shopify
from tests.conftest import unique
from tests.integration.test_shopify_sync import SHOP, Env, env, form_order

__all__ = ["env"]  # the fixture, shared with test_shopify_sync


def edited(event: Event, *, later_ms: int, **changes: Any) -> Event:
    """The CRM's order.updated of the same order, ``later_ms`` newer."""
    return {
        **event,
        "event_type": "order.updated",
        "event_id": unique("ev"),
        "version": event["version"] + later_ms,
        "entity": {**event["entity"], **changes},
    }


def shopify_echo(rest: dict[str, Any], topic: str) -> Event:
    """What shopify_webhook publishes for Shopify's webhook about this order."""
    body = json.dumps(rest).encode()
    now = datetime.now(UTC)
    # shopify_webhook knows our app (SHOPIFY_APP_IDS): only its orders can be echoes.
    own = frozenset({str(shopify_writes.APP_ID)})
    delivery = shopify.Delivery(topic, SHOP, unique("wh"), None, None, now, own_app_ids=own)
    raw = {
        "raw_id": unique("raw"),
        "kind": "shopify_webhook",
        "received_at": now.isoformat(),
        "sha256": hashlib.sha256(body).hexdigest(),
        "body": body.decode(),
    }
    return shopify.normalise(delivery, body, raw)  # type: ignore[arg-type]


def test_a_crm_edit_reaches_the_shopify_order_once_without_echo_or_stale_overwrite(
    env: Env,
) -> None:
    created = form_order()
    assert env.post(created) == 200
    [order] = env.orders()
    assert order["financial_status"] == "pending"
    writes = env.standins[SHOP].writes
    tags = [*created["entity"]["tags"], "vip"]

    edit = edited(created, later_ms=60_000, note="leave at the door", tags=tags)
    edit["entity"]["financial_status"] = "paid"
    assert env.post(edit) == 200
    [order] = env.orders()
    assert order["note"] == "leave at the door"
    assert "vip" in {t.strip() for t in order["tags"].split(",")}
    assert {"orderhub", "orderhub-source:manual", "manager:maria"} <= {
        t.strip() for t in order["tags"].split(",")
    }  # our markers stay: the echo is still recognised
    assert order["financial_status"] == "paid"
    assert (writes.counts["orderUpdate"], writes.counts["orderMarkAsPaid"]) == (1, 1)
    status = env.status(created["entity_id"], entity="order_update")
    assert status["status"] == "synced" and "marked paid" in status["reason"]
    assert env.status(created["entity_id"])["status"] == "synced"  # the create stays visible

    # Redelivered, and an older edit arriving late: nothing is sent.
    assert env.post(edit) == 200
    assert env.post(edited(created, later_ms=30_000, note="old note")) == 200
    assert env.orders()[0]["note"] == "leave at the door"
    assert (writes.counts["orderUpdate"], writes.counts["orderMarkAsPaid"]) == (1, 1)

    # Shopify's webhooks for our writes become the CRM order's echo: no write back.
    for topic in ("orders/updated", "orders/paid"):
        echo = shopify_echo(env.orders()[0], topic)
        assert echo["source"] == "manual" and echo["entity"]["shopify_order_id"]
        assert env.post(echo) == 200
    assert (writes.counts["orderUpdate"], writes.counts["orderMarkAsPaid"]) == (1, 1)
    assert writes.counts["orderCreate"] == 1


def test_an_edit_that_changes_nothing_in_shopify_is_not_sent(env: Env) -> None:
    created = form_order()
    assert env.post(created) == 200
    same = edited(created, later_ms=1_000)  # a newer CRM version, same note, tags, status
    assert env.post(same) == 200
    writes = env.standins[SHOP].writes
    assert "orderUpdate" not in writes.counts and "orderMarkAsPaid" not in writes.counts
    status = env.status(created["entity_id"], entity="order_update")
    assert status["status"] == "skipped" and status["reason"] == "Shopify already holds this"


def test_an_edit_is_held_back_while_orders_are_switched_off(env: Env) -> None:
    created = form_order()
    assert env.post(created) == 200
    env.switches(SHOP, **{"outbound.orders": "off"})
    assert env.post(edited(created, later_ms=1_000, note="changed")) == 200
    assert env.orders()[0]["note"] == "ring twice"
    assert "orderUpdate" not in env.standins[SHOP].writes.counts
