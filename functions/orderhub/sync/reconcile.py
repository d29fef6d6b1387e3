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
from orderhub.event import Raw, iso, parse_time, version_of
from orderhub.sources import shopify, shopify_graphql
from orderhub.sync.graphql import CostThrottle, GraphQL, Sleep, call


@dataclass(frozen=True)
class Resource:
    name: str  # GraphQL root field and cursor key: orders | customers | products
    fields: str
    to_rest: Callable[[dict[str, Any]], dict[str, Any]]
    create_topic: str
    update_topic: str


RESOURCES: dict[str, Resource] = {
    "orders": Resource(
        "orders",
        shopify_graphql.ORDER_FIELDS
        + "lineItems(first: 100) { nodes { "
        + shopify_graphql.LINE_ITEM_FIELDS
        + " } }",
        shopify_graphql.order_node_to_rest,
        "orders/create",
        "orders/updated",
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
        shopify_graphql.PRODUCT_FIELDS
        + "variants(first: 100) { nodes { "
        + shopify_graphql.VARIANT_FIELDS
        + " } }",
        shopify_graphql.product_node_to_rest,
        "products/create",
        "products/update",
    ),
}

PAGE_QUERY = """
query orderhubReconcile($first: Int!, $after: String, $query: String) {
  %(root)s(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { %(fields)s }
  }
}
"""


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


def pages(
    graphql: GraphQL, throttle: CostThrottle, resource: Resource, since: datetime, page_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Pages of nodes updated at or after ``since``, oldest first."""
    query = PAGE_QUERY % {"root": resource.name, "fields": resource.fields}
    after: str | None = None
    while True:
        variables = {"first": page_size, "after": after, "query": f"updated_at:>='{iso(since)}'"}
        connection = call(graphql, throttle, query, variables)[resource.name]
        yield list(connection.get("nodes") or [])
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
    page_size: int = 50,
) -> Summary:
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
