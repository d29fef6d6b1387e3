"""Issue 19 in the views, on the BigQuery emulator through crm_writer: an e-mail order the
sync wrote into Shopify is one row in ``orders`` under its mailbox, and the Shopify
refund and delete of its Shopify order are its own; ``chat_funnel`` counts a day's
contacts once whatever the currencies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from devstack.shopify_sender import fixture
from orderhub.shopify import markers
from orderhub.sources.shopify import Delivery, normalise
from tests.conftest import Crm
from tests.integration.test_crm_writer import deliver
from tests.integration.test_views_truths import writer as writer  # the fixture

NOW = datetime(2026, 11, 26, tzinfo=UTC)
SHOP = "views19.myshopify.com"
MAILBOX = "orders@views19.example"
OURS = frozenset({"9876543"})


def webhook(topic: str, payload: dict, webhook_id: str) -> Any:
    raw = {
        "raw_id": f"raw-{webhook_id}",
        "kind": "shopify_webhook",
        "received_at": "2026-11-26T00:00:00.000Z",
        "sha256": "x",
        "body": json.dumps(payload),
        "meta": {"topic": topic},
    }
    delivery = Delivery(topic, SHOP, webhook_id, None, None, NOW, OURS)
    return normalise(delivery, json.dumps(payload).encode(), raw)


def synced_email_order(writer: Any) -> dict:
    """E-mail order K-19 of MAILBOX, and Shopify's echo of the order the sync made of it."""
    order = {
        **fixture("order"),
        "id": 7_900_000,
        "currency": "EUR",
        "total_price": "50.00",
        "created_at": "2026-11-25T10:00:00Z",
        "updated_at": "2026-11-25T10:00:00Z",
        "source_identifier": markers.source_identifier("email:kiire", "K-19", MAILBOX),
        "app_id": 9876543,
    }
    echo = webhook("orders/create", order, "echo")
    assert (echo["source"], echo["shop"], echo["entity_id"]) == ("email:kiire", MAILBOX, "K-19")
    deliver(writer, echo)
    return order


def rows(crm: Crm) -> list[dict[str, Any]]:
    return crm.query(
        "SELECT order_id, source, shop, status, refunded, shopify_order_id FROM {ds}.orders"
    )


def test_a_shopify_refund_of_a_synced_order_is_on_the_crm_order(writer: Any, crm: Crm) -> None:
    order = synced_email_order(writer)
    refund = {
        **fixture("refund"),
        "id": 7_900_001,
        "order_id": order["id"],
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "20.00", "currency": "EUR"}
        ],
    }
    deliver(writer, webhook("refunds/create", refund, "refund"))
    [row] = rows(crm)
    assert (row["order_id"], row["source"], row["shop"]) == ("K-19", "email:kiire", MAILBOX)
    assert (row["status"], str(row["refunded"])) == ("partially_refunded", "20.000000000")
    [day] = crm.query("SELECT orders, refunded, net FROM {ds}.daily_sales")
    assert (day["orders"], str(day["net"])) == (1, "30.000000000")


def test_deleting_the_shopify_order_of_a_synced_order_deletes_the_crm_order(
    writer: Any, crm: Crm
) -> None:
    order = synced_email_order(writer)
    assert len(rows(crm)) == 1
    deliver(writer, webhook("orders/delete", {"id": order["id"]}, "delete"))
    assert rows(crm) == []  # one order: gone from both, and no phantom Shopify row


def test_chat_funnel_counts_contacts_once_across_currencies(writer: Any, crm: Crm) -> None:
    from orderhub.event import make_event

    day = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    deliver(
        writer,
        make_event(
            event_type="contact.touched",
            source="manychat",
            shop=SHOP,
            occurred_at=day,
            version=1,
            entity_id="555",
            entity={"contact_id": "555", "touch_source": "ad", "phone": None, "email": None},
        ),
    )
    for n, currency in enumerate(("EUR", "USD")):
        order = {
            **fixture("order"),
            "id": 7_910_000 + n,
            "currency": currency,
            "created_at": day.isoformat(),
            "updated_at": day.isoformat(),
            "landing_site": "/products/mug?orderhub_contact=555",
        }
        deliver(writer, webhook("orders/create", order, f"o{n}"))
    funnel = crm.query("SELECT contacts_touched, orders FROM {ds}.chat_funnel")
    assert sum(r["contacts_touched"] for r in funnel) == 1, funnel
    assert sum(r["orders"] for r in funnel) == 2
