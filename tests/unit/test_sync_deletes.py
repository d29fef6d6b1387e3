"""The periodic id check finds deletes whose webhooks were missed (issue 13 item 9)."""

from __future__ import annotations

from devstack.shopify_sender import fixture
from devstack.standins.shopify_store import ShopifyStore
from orderhub.shopify_reconcile import deletes
from tests.unit.test_shopify_sync import NOW, SHOP, MemoryBus


def shop_with_products(n: int) -> ShopifyStore:
    store = ShopifyStore()
    for i in range(n):
        store.put_product({**fixture("product"), "id": 500 + i})
    return store


def check(store: ShopifyStore, held: list[str], resource: str = "products"):
    bus = MemoryBus()
    summary = deletes.find_deleted(
        shop=SHOP,
        resource=resource,
        graphql=store.graphql,
        existing_ids=lambda r, s: held if (r, s) == (resource, SHOP) else [],
        bus=bus,
        now=lambda: NOW,
        sleep=lambda s: None,
    )
    return summary, bus.events


def test_a_product_deleted_without_its_webhook_is_deleted_in_the_crm():
    store = shop_with_products(3)
    store.delete("products", "501")
    summary, events = check(store, ["500", "501", "502"])
    assert [(e["event_type"], e["entity_id"]) for e in events] == [("product.deleted", "501")]
    assert events[0]["entity"] == {"product_id": "501", "deleted": True}
    assert (summary.checked, summary.deleted) == (3, 1)


def test_nothing_is_deleted_when_shopify_has_everything():
    summary, events = check(shop_with_products(2), ["500", "501"])
    assert events == [] and summary.deleted == 0


def test_many_ids_are_checked_in_batches_under_the_cost_limit():
    store = shop_with_products(250)
    for i in (0, 120, 249):
        store.delete("products", str(500 + i))
    summary, events = check(store, [str(500 + i) for i in range(250)])
    assert sorted(e["entity_id"] for e in events) == ["500", "620", "749"]
    assert summary.checked == 250


def test_a_deleted_customer_is_found_too():
    store = ShopifyStore()
    store.put_customer({**fixture("customer"), "id": 42})
    _, events = check(store, ["42", "43"], resource="customers")
    assert [(e["event_type"], e["entity_id"]) for e in events] == [("customer.deleted", "43")]


def test_orders_are_checked_only_once_the_crm_understands_order_deletes():
    from orderhub.sources.shopify import TOPICS

    assert ("orders" in deletes.checked_resources()) == ("orders/delete" in TOPICS)
    assert {"customers", "products"} <= set(deletes.checked_resources())
