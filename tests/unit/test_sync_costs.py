"""Shopify's calculated query cost in the stand-in, and reconcile's queries under it.

Issue 13 item 10 and the paging part of item 9: connection sizes multiply, a query over
1,000 points is refused (MAX_COST_EXCEEDED) before it runs, the actual cost is charged
after, and reconcile reads orders with hundreds of line items and products with hundreds
of variants whole, with every query it sends under the limit.
"""

from __future__ import annotations

import pytest

from devstack.standins.shopify_query import MAX_QUERY_COST, parse_query
from devstack.standins.shopify_store import ShopifyStore
from orderhub.errors import TransientError
from orderhub.shopify_reconcile import reconcile
from tests.unit.test_shopify_sync import NOW, SHOP, Clock, MemoryBus, MemoryCursors, orders


def cost(query: str, **variables: object) -> int:
    parsed = parse_query(query, variables)
    assert not isinstance(parsed, dict), parsed
    return parsed.requested_cost()


def test_shopify_cost_rules():
    assert cost("{ shop { name currencyCode } }") == 1  # an object 1, scalars 0
    assert cost("{ products(first: 10) { nodes { title } } }") == 2 + 10
    nested = "{ products(first: 10) { nodes { title variants(first: 5) { nodes { price } } } } }"
    assert cost(nested) == 2 + 10 * (1 + 2 + 5 * 1)  # nested connections multiply
    with_edges = "{ orders(first: $n) { edges { node { customer { id } } } } }"
    assert cost(with_edges, n=3) == 2 + 3 * (1 + 1)
    assert cost("mutation { draftOrderCreate(input: {}) { draftOrder { id } } }") == 10


def test_a_query_over_1000_points_is_refused_and_not_charged():
    store = ShopifyStore()
    query = (
        "query { orders(first: 50) { nodes { id lineItems(first: 100) { nodes { id "
        "originalUnitPriceSet { shopMoney { amount } } } } } } }"
    )
    answer = store.graphql(query)
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["cost"] == 2 + 50 * (1 + 2 + 100 * 3)
    assert error["extensions"]["maxCost"] == 1000
    assert "data" not in answer
    assert store.available == store.bucket_size


def test_the_actual_cost_is_charged_and_the_rest_refunded():
    store = ShopifyStore()
    store.put_order(orders(1)[0])
    answer = store.graphql("{ orders(first: 50) { nodes { id customer { id } } } }")
    cost = answer["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 50 * 2
    assert cost["actualQueryCost"] == 2 + 1 * 2  # one order came back
    assert cost["throttleStatus"]["currentlyAvailable"] == store.bucket_size - 4


def test_todays_main_reconcile_query_would_be_refused():
    old = reconcile.PAGE_QUERY % {
        "root": "orders",
        "fields": "id lineItems(first: 100) { nodes { "
        + reconcile.shopify_graphql.LINE_ITEM_FIELDS
        + " } }",
    }
    assert cost(old, first=50) > MAX_QUERY_COST


@pytest.mark.parametrize("resource", list(reconcile.RESOURCES))
def test_every_query_reconcile_sends_fits_under_the_limit(resource: str):
    spec = reconcile.RESOURCES[resource]
    assert cost(reconcile.page_query(spec), first=spec.page_size) <= MAX_QUERY_COST
    for nested in (spec.nested, reconcile.REFUND_LINES):
        if nested is None:
            continue
        query = reconcile.NESTED_QUERY % {
            "type": nested.type_name,
            "field": nested.field,
            "fields": nested.fields,
        }
        assert cost(query, id="gid://shopify/Order/1", first=nested.more) <= MAX_QUERY_COST


class RefusingOverLimit:
    """The store, remembering the cost of each query it was sent."""

    def __init__(self, store: ShopifyStore) -> None:
        self.store, self.costs = store, []

    def __call__(self, query: str, variables: dict) -> dict:
        answer = self.store.graphql(query, variables)
        codes = [(e.get("extensions") or {}).get("code") for e in answer.get("errors") or []]
        assert "MAX_COST_EXCEEDED" not in codes
        self.costs.append(answer["extensions"]["cost"]["requestedQueryCost"])
        return answer


def run(store: ShopifyStore, resource: str, bus: MemoryBus, clock: Clock, known=None):
    graphql = RefusingOverLimit(store)
    summary = reconcile.reconcile(
        shop=SHOP,
        resource=resource,
        graphql=graphql,
        cursors=MemoryCursors(),
        known_versions=lambda r, s, ids: {i: v for i, v in (known or {}).items() if i in ids},
        bus=bus,
        now=lambda: NOW,
        sleep=clock.sleep,
    )
    return summary, graphql.costs


def test_an_order_with_250_line_items_is_reconciled_whole():
    clock = Clock()
    store = ShopifyStore(clock=clock)
    big = orders(1)[0]
    line = big["line_items"][0]
    big["line_items"] = [{**line, "id": 10_000 + i, "sku": f"SKU-{i}"} for i in range(250)]
    store.put_order(big)
    for order in orders(9)[1:]:
        store.put_order(order)
    bus = MemoryBus()
    summary, costs = run(store, "orders", bus, clock)
    by_id = {e["entity_id"]: e for e in bus.events}
    assert [li["sku"] for li in by_id[str(big["id"])]["entity"]["line_items"]] == [
        f"SKU-{i}" for i in range(250)
    ]
    assert summary.published == 9
    assert max(costs) <= MAX_QUERY_COST


def test_a_product_with_300_variants_is_reconciled_whole():
    from devstack.shopify_sender import fixture

    clock = Clock()
    store = ShopifyStore(clock=clock)
    product = fixture("product")
    variant = product["variants"][0]
    product = {
        **product,
        "updated_at": "2026-11-25T08:00:00+00:00",
        "variants": [{**variant, "id": 50_000 + i, "sku": f"V-{i}"} for i in range(300)],
    }
    store.put_product(product)
    bus = MemoryBus()
    run(store, "products", bus, clock)
    (event,) = bus.events
    assert len(event["entity"]["variants"]) == 300
    assert event["entity"]["variants"][-1]["sku"] == "V-299"


def test_a_refused_query_is_an_error_not_an_endless_retry():
    store = ShopifyStore()

    def huge(query: str, variables: dict) -> dict:
        return store.graphql(
            "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }"
        )

    with pytest.raises(TransientError, match="exceeds the single query max cost"):
        reconcile.call(huge, reconcile.CostThrottle(sleep=lambda s: None), "q", {})
