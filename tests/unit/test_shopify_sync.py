"""Reconciliation and backfill against the in-memory Shopify shop of the stand-in."""

import json
from datetime import UTC, datetime, timedelta

from devstack.shopify_sender import fixture
from devstack.standins.shopify_store import ShopifyStore
from orderhub.event import version_of
from orderhub.shopify_reconcile import backfill, reconcile
from orderhub.sources.shopify import Delivery, normalise

SHOP = "sync.myshopify.com"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.t = 0.0
        self.slept = []

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.t += seconds


class MemoryBus:
    def __init__(self):
        self.events = []

    def publish(self, event):
        self.events.append(event)
        return str(len(self.events))


class MemoryCursors:
    def __init__(self):
        self.values = {}

    def get(self, shop, resource):
        return self.values.get((shop, resource))

    def set(self, shop, resource, value):
        self.values[(shop, resource)] = value


def orders(n, start=datetime(2026, 11, 25, 8, 0, tzinfo=UTC)):
    base = fixture("order")
    out = []
    for i in range(n):
        stamp = (start + timedelta(minutes=i)).isoformat()
        out.append(
            {
                **base,
                "id": 9000 + i,
                "name": f"#{2000 + i}",
                "updated_at": stamp,
                "created_at": stamp,
            }
        )
    return out


def run(store, cursors, bus, known=None, clock=None, page_size=2):
    clock = clock or Clock()
    return reconcile.reconcile(
        shop=SHOP,
        resource="orders",
        graphql=store.graphql,
        cursors=cursors,
        known_versions=lambda resource, shop, ids: {
            i: v for i, v in (known or {}).items() if i in ids
        },
        bus=bus,
        now=lambda: NOW,
        sleep=clock.sleep,
        page_size=page_size,
    )


def test_reconcile_publishes_only_what_the_crm_lacks_and_moves_the_cursor():
    store, cursors, bus = ShopifyStore(), MemoryCursors(), MemoryBus()
    data = orders(5)
    for order in data:
        store.put_order(order)
    stale = {**data[1], "updated_at": "2026-11-25T07:00:00+00:00"}
    known = {
        "9000": version_of(datetime.fromisoformat(data[0]["updated_at"])),  # same version
        "9001": version_of(datetime.fromisoformat(stale["updated_at"])),  # older version
    }
    summary = run(store, cursors, bus, known)
    assert (summary.seen, summary.published, summary.pages) == (5, 4, 3)
    by_id = {e["entity_id"]: e["event_type"] for e in bus.events}
    assert by_id == {
        "9001": "order.updated",
        "9002": "order.created",
        "9003": "order.created",
        "9004": "order.created",
    }
    assert cursors.get(SHOP, "orders") == datetime.fromisoformat(data[4]["updated_at"])

    again = run(
        store,
        cursors,
        MemoryBus(),
        known=known | {e["entity_id"]: e["version"] for e in bus.events},
    )
    assert again.published == 0


def test_a_reconciled_order_is_the_same_event_as_its_webhook():
    store, bus = ShopifyStore(), MemoryBus()
    order = orders(1)[0]
    store.put_order(order)
    run(store, MemoryCursors(), bus)
    raw = {"raw_id": "r", "kind": "shopify_webhook", "received_at": "x", "sha256": "x"}
    webhook = normalise(
        Delivery("orders/create", SHOP, "w", None, None, NOW), json.dumps(order).encode(), raw
    )
    (reconciled,) = bus.events
    assert reconciled["event_id"] == webhook["event_id"]
    assert reconciled["version"] == webhook["version"]
    assert reconciled["entity"]["total"] == webhook["entity"]["total"]
    assert [li["sku"] for li in reconciled["entity"]["line_items"]] == [
        li["sku"] for li in webhook["entity"]["line_items"]
    ]
    assert reconciled["raw"]["kind"] == "shopify_reconcile"


def test_cancelled_orders_reconcile_as_cancellations():
    store, bus = ShopifyStore(), MemoryBus()
    order = {**orders(1)[0], "cancelled_at": "2026-11-25T09:00:00+00:00"}
    store.put_order(order)
    run(store, MemoryCursors(), bus)
    assert [e["event_type"] for e in bus.events] == ["order.cancelled"]


def test_reconcile_waits_for_the_cost_bucket_instead_of_failing():
    clock = Clock()
    store = ShopifyStore(bucket_size=300, restore_rate=50, clock=clock)
    for order in orders(8):
        store.put_order(order)
    bus = MemoryBus()
    summary = run(store, MemoryCursors(), bus, clock=clock, page_size=2)  # 257 points a page
    assert summary.published == 8
    assert summary.throttled_wait_s > 0 and clock.slept
    assert store.calls.count("orders") >= summary.pages


def test_backfill_reassembles_children_whatever_the_line_order():
    store, bus = ShopifyStore(), MemoryBus()
    for order in orders(3):
        store.put_order(order)
    clock = Clock()
    progressed = []
    summary = backfill.backfill(
        shop=SHOP,
        resource="orders",
        graphql=store.graphql,
        download=lambda url: store.files[url.rsplit("/", 1)[-1].split(".")[0]],
        bus=bus,
        now=lambda: NOW,
        sleep=clock.sleep,
        progress=progressed.append,
    )
    assert (summary.objects, summary.published, len(progressed)) == (3, 3, 3)
    assert store.calls[0] == "bulkOperationRunQuery" and "node" in store.calls
    for event in bus.events:
        assert event["origin"] == "backfill"
        assert [li["sku"] for li in event["entity"]["line_items"]] == [
            "IPOD2008GREEN",
            "IPOD2008RED",
            "IPOD2008BLACK",
        ]


def test_backfill_of_an_empty_shop_publishes_nothing():
    store, bus = ShopifyStore(), MemoryBus()
    summary = backfill.backfill(
        shop=SHOP,
        resource="products",
        graphql=store.graphql,
        download=lambda url: [],
        bus=bus,
        now=lambda: NOW,
        sleep=Clock().sleep,
    )
    assert summary.published == 0 and bus.events == []
