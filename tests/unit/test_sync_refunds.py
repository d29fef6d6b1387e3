"""Refunds reconciled and backfilled, in the shop's currency; fulfilment words as the
webhook's (issue 13 items 8 and 9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.shopify_sender import fixture
from devstack.standins.shopify_store import ShopifyStore
from orderhub.shopify_reconcile import backfill
from orderhub.sources.shopify import Delivery, normalise
from tests.unit.test_shopify_sync import NOW, SHOP, Clock, MemoryBus, MemoryCursors, orders, run

RAW = {"raw_id": "r", "kind": "shopify_webhook", "received_at": "x", "sha256": "x"}


def webhook(topic: str, payload: dict) -> dict:
    delivery = Delivery(topic, SHOP, "w", None, None, NOW)
    return normalise(delivery, json.dumps(payload).encode(), RAW)


def multi_currency_refund(order_id: int, refund_id: int, lines: int = 1) -> dict:
    """A refund of 40.00 CAD paid back to a customer who paid in EUR (27.00 EUR)."""
    base = fixture("refund")
    line = base["refund_line_items"][0]
    return {
        **base,
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2026-11-25T09:30:00+00:00",
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "27.00", "currency": "EUR"}
        ],
        "total_refunded_set": {
            "shop_money": {"amount": "40.00", "currency_code": "CAD"},
            "presentment_money": {"amount": "27.00", "currency_code": "EUR"},
        },
        "refund_line_items": [
            {**line, "id": 70_000 + i, "line_item_id": 80_000 + i} for i in range(lines)
        ],
    }


def cad_order_refunded(lines: int = 1) -> dict:
    order = {**orders(1)[0], "currency": "CAD", "presentment_currency": "EUR"}
    order["updated_at"] = "2026-11-25T09:30:00+00:00"
    order["refunds"] = [multi_currency_refund(order["id"], 555, lines)]
    return order


def test_a_missed_refund_is_reconciled_in_the_shops_currency():
    store, bus = ShopifyStore(), MemoryBus()
    store.put_order(cad_order_refunded())
    run(store, MemoryCursors(), bus)
    refunds = [e for e in bus.events if e["event_type"] == "order.refunded"]
    (refund,) = refunds
    assert refund["entity"]["amount"] == {"amount": "40.00", "currency": "CAD"}
    assert refund["entity"]["amount_presentment"] == {"amount": "27.00", "currency": "EUR"}
    assert refund["entity"]["order_id"] == str(orders(1)[0]["id"])
    assert refund["origin"] == "reconcile"


def test_a_reconciled_refund_is_the_webhooks_event():
    store, bus = ShopifyStore(), MemoryBus()
    order = cad_order_refunded()
    store.put_order(order)
    run(store, MemoryCursors(), bus)
    (reconciled,) = [e for e in bus.events if e["event_type"] == "order.refunded"]
    live = webhook("refunds/create", order["refunds"][0])
    assert reconciled["event_id"] == live["event_id"]
    assert reconciled["entity"]["amount"] == live["entity"]["amount"]


def test_a_refund_the_crm_holds_is_not_published_again():
    store, bus = ShopifyStore(), MemoryBus()
    store.put_order(cad_order_refunded())
    run(store, MemoryCursors(), bus, known={"555": 1})
    assert [e for e in bus.events if e["event_type"] == "order.refunded"] == []


def test_refund_line_items_are_paged_beyond_the_first_hundred():
    clock = Clock()
    store, bus = ShopifyStore(clock=clock), MemoryBus()
    store.put_order(cad_order_refunded(lines=150))
    run(store, MemoryCursors(), bus, clock=clock)
    (refund,) = [e for e in bus.events if e["event_type"] == "order.refunded"]
    assert len(refund["entity"]["line_items"]) == 150


def test_a_webhook_refund_in_another_currency_is_converted_to_the_shops():
    refund = multi_currency_refund(1, 2)
    del refund["total_refunded_set"]  # webhooks carry money sets on lines instead
    refund["refund_line_items"][0]["subtotal_set"] = {
        "shop_money": {"amount": "37.04", "currency_code": "CAD"},
        "presentment_money": {"amount": "25.00", "currency_code": "EUR"},
    }
    refund["refund_line_items"][0]["total_tax_set"] = {
        "shop_money": {"amount": "2.96", "currency_code": "CAD"},
        "presentment_money": {"amount": "2.00", "currency_code": "EUR"},
    }
    entity = webhook("refunds/create", refund)["entity"]
    assert entity["amount"] == {"amount": "40.00", "currency": "CAD"}
    assert entity["amount_presentment"] == {"amount": "27.00", "currency": "EUR"}


def test_a_single_currency_webhook_refund_keeps_its_transactions():
    entity = webhook("refunds/create", fixture("refund"))["entity"]
    assert entity["amount"] == {"amount": "209.00", "currency": "USD"}


def test_backfill_publishes_every_refund_of_the_history(tmp_path: Path):
    store, bus = ShopifyStore(), MemoryBus()
    first = cad_order_refunded()
    second = {**orders(2)[1], "currency": "CAD"}
    second["refunds"] = [
        multi_currency_refund(second["id"], 601),
        multi_currency_refund(second["id"], 602),
    ]
    store.put_order(first)
    store.put_order(second)
    summary = backfill.backfill(
        shop=SHOP,
        resource="orders",
        graphql=store.graphql,
        download=lambda url: store.files[url.rsplit("/", 1)[-1].split(".")[0]],
        bus=bus,
        now=lambda: NOW,
        sleep=lambda s: None,
    )
    refunds = {e["entity_id"]: e for e in bus.events if e["event_type"] == "order.refunded"}
    assert sorted(refunds) == ["555", "601", "602"]
    assert {e["entity"]["amount"]["currency"] for e in refunds.values()} == {"CAD"}
    assert all(e["origin"] == "backfill" for e in refunds.values())
    assert summary.refunds == 3


@pytest.mark.parametrize("status", [None, "partial", "fulfilled", "restocked"])
def test_fulfilment_status_reads_as_the_webhooks(status):
    store, bus = ShopifyStore(), MemoryBus()
    order = {**orders(1)[0], "fulfillment_status": status}
    store.put_order(order)
    run(store, MemoryCursors(), bus)
    (event,) = bus.events
    assert event["entity"]["fulfillment_status"] == status
    assert webhook("orders/create", order)["entity"]["fulfillment_status"] == status
