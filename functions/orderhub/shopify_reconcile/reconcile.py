"""Scheduled reconciliation: catch what Shopify's webhooks missed.

Shopify does not guarantee webhook delivery (and deletes a subscription after repeated
failures). Every run asks the GraphQL Admin API for the orders, customers and products
updated since the last cursor (minus an overlap, so clock skew and in-flight updates are
not missed), compares each with the newest version the CRM holds, and publishes a
canonical event only for what is missing or newer. The events are built by the webhook's
own normaliser from the same facts, so an order seen both ways has the same ``event_id``
and the same ``version``: one order in the CRM, one message to the managers.

The cursor (per shop and resource, in Firestore) moves only after every event of the run
was published; a failed run is simply redone by the next.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from orderhub.bus import Bus
from orderhub.event import Event, Raw, iso, parse_time, version_of
from orderhub.shopify.graphql import CostThrottle, GraphQL, Sleep, call
from orderhub.sources import shopify, shopify_graphql


@dataclass(frozen=True)
class Nested:
    """A connection inside each node (an order's line items, a product's variants): the
    page query asks for its first ``first`` items, and ``NESTED_QUERY`` pages the rest."""

    field: str  # connection field on the node, and the REST list it becomes
    type_name: str  # GraphQL type of the node, for ``... on Order``
    fields: str
    first: int  # items read with each node
    more: int  # items per follow-up page


@dataclass(frozen=True)
class Resource:
    name: str  # GraphQL root field and cursor key: orders | customers | products
    fields: str
    to_rest: Callable[[dict[str, Any]], dict[str, Any]]
    create_topic: str
    update_topic: str
    #: Nodes per page: with ``nested`` this keeps a page's requested cost under
    #: Shopify's single-query limit of 1,000 points (connection sizes multiply).
    page_size: int = 50
    nested: Nested | None = None


RESOURCES: dict[str, Resource] = {
    "orders": Resource(
        "orders",
        shopify_graphql.ORDER_FIELDS
        + "refunds(first: 10) { "
        + shopify_graphql.REFUND_FIELDS
        + " }",
        shopify_graphql.order_node_to_rest,
        "orders/create",
        "orders/updated",
        page_size=7,  # 2 + 1 + 7 x (16 + 3 + 10 x 7 + 10 x 4) = 906 points: test_sync_costs.py
        nested=Nested("lineItems", "Order", shopify_graphql.LINE_ITEM_FIELDS, 10, 100),
    ),
    "customers": Resource(
        "customers",
        shopify_graphql.CUSTOMER_FIELDS,
        shopify_graphql.customer_node_to_rest,
        "customers/create",
        "customers/update",
    ),
    "products": Resource(
        "products",
        shopify_graphql.PRODUCT_FIELDS,
        shopify_graphql.product_node_to_rest,
        "products/create",
        "products/update",
        page_size=40,
        nested=Nested("variants", "Product", shopify_graphql.VARIANT_FIELDS, 20, 250),
    ),
}
#: Line items of one refund, paged (read only for refunds the CRM does not hold yet).
REFUND_LINES = Nested("refundLineItems", "Refund", shopify_graphql.REFUND_LINE_ITEM_FIELDS, 0, 100)

PAGE_QUERY = """
query orderhubReconcile($first: Int!, $after: String, $query: String) {
  %(root)s(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { %(fields)s }
  }
}
"""
NESTED_QUERY = """
query orderhubReconcileNested($id: ID!, $first: Int!, $after: String) {
  node(id: $id) {
    ... on %(type)s {
      %(field)s(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { %(fields)s }
      }
    }
  }
}
"""


def _connection(nested: Nested, first: int) -> str:
    return (
        f"{nested.field}(first: {first}) {{ pageInfo {{ hasNextPage endCursor }} "
        f"nodes {{ {nested.fields} }} }}"
    )


def page_query(resource: Resource) -> str:
    """The page query of a resource, its nested connection's first page included."""
    fields = resource.fields
    if resource.nested is not None:
        fields += " " + _connection(resource.nested, resource.nested.first)
    return PAGE_QUERY % {"root": resource.name, "fields": fields}


class Cursors(Protocol):
    def get(self, shop: str, resource: str) -> datetime | None: ...

    def set(self, shop: str, resource: str, value: datetime) -> None: ...


#: (resource, shop, ids) → {id: newest version the CRM holds}
KnownVersions = Callable[[str, str, Sequence[str]], dict[str, int]]


@dataclass
class Summary:
    resource: str
    since: str
    seen: int = 0
    published: int = 0
    pages: int = 0
    throttled_wait_s: float = 0.0
    cursor: str | None = None
    refunds: int = 0  # refunds published (orders only)


def publish_refunds(
    nodes: Sequence[dict[str, Any]],
    rests: Sequence[dict[str, Any]],
    *,
    shop: str,
    graphql: GraphQL,
    throttle: CostThrottle,
    known_versions: KnownVersions,
    bus: Bus,
    received_at: datetime,
) -> int:
    """Publish the refunds of these orders that the CRM does not hold (a missed
    ``refunds/create``), as the webhook's event: same id, same version, shop money."""
    found = [
        (refund, str(rest["id"]))
        for node, rest in zip(nodes, rests, strict=True)
        for refund in node.get("refunds") or []
    ]
    if not found:
        return 0
    known = known_versions("refunds", shop, [str(shopify_graphql.legacy_id(r)) for r, _ in found])
    published = 0
    for refund, order_id in found:
        if str(shopify_graphql.legacy_id(refund)) in known:
            continue  # refunds never change once made
        lines = rest_of(graphql, throttle, REFUND_LINES, str(refund["id"]), None)
        rest = shopify_graphql.refund_node_to_rest(refund, order_id, lines)
        bus.publish(
            refund_event(
                rest,
                gid=str(refund["id"]),
                shop=shop,
                kind="shopify_reconcile",
                received_at=received_at,
                origin="reconcile",
            )
        )
        published += 1
    return published


def refund_event(
    rest: dict[str, Any], *, gid: str, shop: str, kind: str, received_at: datetime, origin: str
) -> Event:
    """A refund read back from the Admin API as the ``refunds/create`` webhook's event."""
    body = json.dumps(rest, separators=(",", ":")).encode()
    delivery = shopify.Delivery("refunds/create", shop, f"{origin}:{gid}", None, None, received_at)
    raw: Raw = {
        "raw_id": shopify.stable_reconcile_id(shop, gid, str(rest["created_at"])),
        "kind": kind,
        "received_at": iso(received_at),
        "sha256": hashlib.sha256(body).hexdigest(),
        "body": body.decode(),
        "meta": {"topic": "refunds/create", "gid": gid},
    }
    event = shopify.normalise(delivery, body, raw)
    event["origin"] = origin
    return event


def rest_of(
    graphql: GraphQL, throttle: CostThrottle, nested: Nested, gid: str, after: str | None
) -> list[dict[str, Any]]:
    """Every item of a node's nested connection after cursor ``after``, page by page."""
    query = NESTED_QUERY % {
        "type": nested.type_name,
        "field": nested.field,
        "fields": nested.fields,
    }
    items: list[dict[str, Any]] = []
    while True:
        variables = {"id": gid, "first": nested.more, "after": after}
        node = call(graphql, throttle, query, variables).get("node") or {}
        connection = node.get(nested.field) or {}
        items += list(connection.get("nodes") or [])
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return items
        after = info["endCursor"]


def complete(
    graphql: GraphQL, throttle: CostThrottle, resource: Resource, node: dict[str, Any]
) -> dict[str, Any]:
    """The node with all of its nested connection's items (beyond the first page too)."""
    nested = resource.nested
    if nested is None:
        return node
    connection = node.get(nested.field) or {}
    items = list(connection.get("nodes") or [])
    info = connection.get("pageInfo") or {}
    if info.get("hasNextPage"):
        items += rest_of(graphql, throttle, nested, str(node["id"]), info.get("endCursor"))
    return {**node, nested.field: {"nodes": items}}


def pages(
    graphql: GraphQL,
    throttle: CostThrottle,
    resource: Resource,
    since: datetime,
    page_size: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of nodes updated at or after ``since``, oldest first, nested items complete."""
    query = page_query(resource)
    after: str | None = None
    while True:
        variables = {
            "first": page_size or resource.page_size,
            "after": after,
            "query": f"updated_at:>='{iso(since)}'",
        }
        connection = call(graphql, throttle, query, variables)[resource.name]
        yield [complete(graphql, throttle, resource, n) for n in connection.get("nodes") or []]
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return
        after = info["endCursor"]


def _topic(resource: Resource, rest: dict[str, Any], known: bool) -> str:
    if resource.name == "orders" and rest.get("cancelled_at"):
        return "orders/cancelled"
    return resource.update_topic if known else resource.create_topic


def reconcile(
    *,
    shop: str,
    resource: str,
    graphql: GraphQL,
    cursors: Cursors,
    known_versions: KnownVersions,
    bus: Bus,
    now: Callable[[], datetime],
    sleep: Sleep,
    overlap: timedelta = timedelta(minutes=15),
    first_lookback: timedelta = timedelta(days=7),
    page_size: int | None = None,
    own_app_ids: frozenset[str] = frozenset(),
) -> Summary:
    """``own_app_ids``: our app's ids (``SHOPIFY_APP_IDS``); an order they created with our
    ``sourceIdentifier`` is published as a version of the CRM order it was written from,
    exactly as its webhook would be, never as a new Shopify order."""
    spec = RESOURCES[resource]
    started = now()
    cursor = cursors.get(shop, resource)
    since = (cursor or started - first_lookback) - overlap
    summary = Summary(resource=resource, since=iso(since))
    throttle = CostThrottle(sleep=sleep)
    newest = cursor
    for nodes in pages(graphql, throttle, spec, since, page_size):
        summary.pages += 1
        rests = [spec.to_rest(node) for node in nodes]
        ids = [str(r["id"]) for r in rests]
        known = known_versions(resource, shop, ids)
        if resource == "orders":
            summary.refunds += publish_refunds(
                nodes,
                rests,
                shop=shop,
                graphql=graphql,
                throttle=throttle,
                known_versions=known_versions,
                bus=bus,
                received_at=started,
            )
        for node, rest in zip(nodes, rests, strict=True):
            summary.seen += 1
            updated = parse_time(str(rest["updated_at"]))
            newest = updated if newest is None or updated > newest else newest
            have = known.get(str(rest["id"]))
            if have is not None and have >= version_of(updated):
                continue
            body = json.dumps(rest, separators=(",", ":")).encode()
            delivery = shopify.Delivery(
                topic=_topic(spec, rest, have is not None),
                shop=shop,
                webhook_id=f"reconcile:{node.get('id')}:{rest['updated_at']}",
                event_id=None,
                triggered_at=None,
                received_at=started,
                own_app_ids=own_app_ids,
            )
            raw: Raw = {
                "raw_id": shopify.stable_reconcile_id(
                    shop, str(node.get("id")), rest["updated_at"]
                ),
                "kind": "shopify_reconcile",
                "received_at": iso(started),
                "sha256": hashlib.sha256(body).hexdigest(),
                "body": body.decode(),
                "meta": {"topic": delivery.topic, "gid": str(node.get("id"))},
            }
            event = shopify.normalise(delivery, body, raw)
            # Found by a sync, not delivered live: the notifier announces it only if recent.
            event["origin"] = "reconcile"
            bus.publish(event)
            summary.published += 1
    if newest is not None:
        cursors.set(shop, resource, newest)
        summary.cursor = iso(newest)
    summary.throttled_wait_s = round(throttle.waited, 3)
    return summary
