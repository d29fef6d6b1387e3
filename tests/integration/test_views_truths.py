"""The analysts' views tell the truth (issue 13 items 8 and 9), on the BigQuery emulator
through crm_writer: equal versions told apart by kind and then by Shopify's trigger
time, days in the shop's time zone, refunds in the shop's currency."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from functions_framework import create_app

from devstack.shopify_sender import fixture
from orderhub.sources.shopify import Delivery, normalise
from tests.conftest import ROOT, Crm, unique
from tests.integration.test_crm_writer import deliver

NOW = datetime(2026, 11, 26, tzinfo=UTC)
SHOP = "views.myshopify.com"


@pytest.fixture
def writer(crm: Crm) -> Any:
    return create_app("crm_writer", str(ROOT / "functions" / "main.py"), "cloudevent").test_client()


def shopify_event(topic: str, payload: dict, webhook_id: str, triggered_at: str | None = None):
    raw = {
        "raw_id": f"raw-{webhook_id}",
        "kind": "shopify_webhook",
        "received_at": "2026-11-26T00:00:00.000Z",
        "sha256": "x",
        "body": json.dumps(payload),
        "meta": {"topic": topic, "triggered_at": triggered_at or ""},
    }
    delivery = Delivery(topic, SHOP, webhook_id, None, triggered_at, NOW)
    return normalise(delivery, json.dumps(payload).encode(), raw)


def status(crm: Crm, order_id: str) -> dict[str, Any]:
    (row,) = crm.query(
        "SELECT status, fulfillment_status, refunded FROM {ds}.orders WHERE order_id = @id",
        id=order_id,
    )
    return row


def test_equal_versions_the_later_kind_wins_not_the_event_id(writer, crm: Crm):
    # Shopify sends orders/create and orders/paid with the same updated_at: the same
    # version. Pick an order whose created event sorts first by event id, so a tie broken
    # by event id alone (today's main) would show the order unpaid.
    for n in range(50):
        order = {**fixture("order"), "id": 7_000_000 + n, "updated_at": "2026-11-25T10:00:00Z"}
        created = shopify_event("orders/create", order, f"c{n}")
        paid = shopify_event("orders/paid", {**order, "financial_status": "paid"}, f"p{n}")
        if created["event_id"] < paid["event_id"]:
            break
    assert created["version"] == paid["version"]
    deliver(writer, paid)
    deliver(writer, created)
    assert status(crm, str(order["id"]))["status"] == "paid"


def test_equal_versions_and_kinds_the_later_trigger_wins(writer, crm: Crm):
    # Two deliveries of orders/updated with one updated_at (the same version, the same
    # event id) and different content: the one Shopify triggered later is the truth,
    # whichever arrived last. One order gets them in each arrival order, so no tie-break
    # by arrival (or by chance) passes for both.
    for order_id, later_arrives_last in ((7_100_000, True), (7_100_001, False)):
        order = {**fixture("order"), "id": order_id, "updated_at": "2026-11-25T10:00:00Z"}
        later = shopify_event(
            "orders/updated",
            {**order, "fulfillment_status": "fulfilled"},
            f"u2-{order_id}",
            "2026-11-25T10:00:02.000000000Z",
        )
        earlier = shopify_event(
            "orders/updated",
            {**order, "fulfillment_status": "partial"},
            f"u1-{order_id}",
            "2026-11-25T10:00:01.000000000Z",
        )
        assert later["event_id"] == earlier["event_id"]  # same fact as far as ids go
        for event in (earlier, later) if later_arrives_last else (later, earlier):
            deliver(writer, event)
    for order_id in ("7100000", "7100001"):
        assert status(crm, order_id)["fulfillment_status"] == "fulfilled"


@pytest.fixture
def new_york_crm(emulators: dict[str, str]) -> Crm:
    from devstack import dataset

    os.environ["SHOP_TIME_ZONE"] = "America/New_York"
    client = dataset.bigquery_client(
        emulators["GOOGLE_CLOUD_PROJECT"], emulators["BIGQUERY_EMULATOR_HOST"]
    )
    name = unique("tz").replace("-", "_")
    dataset.create_dataset(client, name)
    os.environ["BIGQUERY_DATASET"] = name
    return Crm(client, name)


def test_daily_sales_counts_days_in_the_shops_time_zone(new_york_crm: Crm):
    writer = create_app(
        "crm_writer", str(ROOT / "functions" / "main.py"), "cloudevent"
    ).test_client()
    evening = {  # 21:30 in New York on the 25th is 02:30 UTC on the 26th
        **fixture("order"),
        "id": 7_200_000,
        "created_at": "2026-11-25T21:30:00-05:00",
        "updated_at": "2026-11-25T21:30:00-05:00",
    }
    deliver(writer, shopify_event("orders/create", evening, "ny"))
    days = new_york_crm.query("SELECT day, orders FROM {ds}.daily_sales")
    assert [(str(r["day"]), r["orders"]) for r in days] == [("2026-11-25", 1)]


def test_refunded_and_net_are_in_the_shops_currency(writer, crm: Crm):
    order = {
        **fixture("order"),
        "id": 7_300_000,
        "currency": "CAD",
        "presentment_currency": "EUR",
        "total_price": "100.00",
        "created_at": "2026-11-25T10:00:00Z",
        "updated_at": "2026-11-25T10:00:00Z",
    }
    refund = {
        **fixture("refund"),
        "id": 7_300_001,
        "order_id": order["id"],
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "27.00", "currency": "EUR"}
        ],
    }
    refund["refund_line_items"] = [
        {
            **refund["refund_line_items"][0],
            "subtotal_set": {
                "shop_money": {"amount": "40.00", "currency_code": "CAD"},
                "presentment_money": {"amount": "27.00", "currency_code": "EUR"},
            },
        }
    ]
    deliver(writer, shopify_event("orders/create", order, "o"))
    deliver(writer, shopify_event("refunds/create", refund, "r"))
    assert str(status(crm, str(order["id"]))["refunded"]) == "40.000000000"
    (day,) = crm.query("SELECT currency, gross, refunded, net FROM {ds}.daily_sales")
    assert (day["currency"], str(day["net"])) == ("CAD", "60.000000000")


def test_a_total_bigquery_cannot_hold_is_quarantined_and_the_next_order_lands(writer, crm):
    absurd = {
        **fixture("order"),
        "id": 7_400_000,
        "total_price": "1" * 30,  # a 30-digit total: beyond BigQuery's NUMERIC
    }
    deliver(writer, shopify_event("orders/create", absurd, "absurd"))  # 200: not retried
    (kept,) = crm.query("SELECT reason FROM {ds}.quarantine")
    assert "NUMERIC" in kept["reason"]
    normal = {**fixture("order"), "id": 7_400_001}
    deliver(writer, shopify_event("orders/create", normal, "normal"))
    rows = crm.query("SELECT order_id FROM {ds}.orders")
    assert [r["order_id"] for r in rows] == ["7400001"]
