"""Backfill a new shop through Shopify's Bulk Operations API, in flat memory.

``bulkOperationRunQuery`` asks Shopify to export every order (customer, product) with its
line items (variants) as JSONL; we poll until the export is ready, stream the file line by
line and publish a canonical event per object. In that file a nested connection's items are
separate lines pointing at their parent through ``__parentId``, and Shopify says not to
rely on their order; so lines are first spooled into a SQLite file on disk, indexed by
parent, and objects are then re-assembled one at a time. Memory stays flat however large
the shop; disk holds one copy of the export.

Every refund of each order is published too (``refunds/create``'s event, with the total
in the shop's currency); refund line items are not part of the export.

Events carry ``origin: "backfill"`` so the notifier does not message managers about
years-old orders, and reuse the webhook's normaliser, so a backfilled order that later
arrives by webhook (or reconciliation) at the same version is the same event.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orderhub.bus import Bus
from orderhub.errors import OrderHubError, TransientError
from orderhub.event import Raw, iso
from orderhub.shopify.graphql import CostThrottle, GraphQL, Sleep, call
from orderhub.shopify_reconcile.reconcile import RESOURCES, refund_event
from orderhub.sources import shopify, shopify_graphql

#: Bulk queries: connections without ``first`` and with edges/node, as Shopify requires.
BULK_QUERIES = {
    "orders": "{ orders { edges { node { "
    + shopify_graphql.ORDER_FIELDS
    + " refunds { "
    + shopify_graphql.REFUND_FIELDS
    + " }"
    + " lineItems { edges { node { "
    + shopify_graphql.LINE_ITEM_FIELDS
    + " } } } } } } }",
    "customers": "{ customers { edges { node { " + shopify_graphql.CUSTOMER_FIELDS + " } } } }",
    "products": "{ products { edges { node { "
    + shopify_graphql.PRODUCT_FIELDS
    + " variants { edges { node { "
    + shopify_graphql.VARIANT_FIELDS
    + " } } } } } } }",
}
#: Child gid type → the parent's connection field it belongs to.
CHILD_FIELD = {"LineItem": "lineItems", "ProductVariant": "variants"}

RUN = """
mutation orderhubBackfill($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""
POLL = """
query orderhubBulkStatus($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount rootObjectCount url partialDataUrl }
  }
}
"""


class BulkFailed(OrderHubError):
    """Shopify could not run the bulk export; the message carries its status and error code."""


@dataclass
class Summary:
    resource: str
    objects: int = 0
    published: int = 0
    refunds: int = 0  # refunds published with their orders
    seconds: float = 0.0


def start(graphql: GraphQL, throttle: CostThrottle, resource: str) -> str:
    data = call(graphql, throttle, RUN, {"query": BULK_QUERIES[resource]})
    result = data["bulkOperationRunQuery"]
    if result.get("userErrors"):
        raise BulkFailed("; ".join(e["message"] for e in result["userErrors"]))
    return str(result["bulkOperation"]["id"])


def wait(
    graphql: GraphQL,
    throttle: CostThrottle,
    operation_id: str,
    *,
    sleep: Sleep,
    interval: float = 2.0,
    timeout: float = 6 * 3600,
    on_status: Callable[[dict[str, Any]], None] = lambda _: None,
) -> dict[str, Any]:
    """Poll until the operation completes; its final status (with ``url``)."""
    waited = 0.0
    while True:
        status = call(graphql, throttle, POLL, {"id": operation_id})["node"]
        on_status(status)
        if status["status"] == "COMPLETED":
            return dict(status)
        if status["status"] in ("FAILED", "CANCELED", "EXPIRED"):
            raise BulkFailed(f"bulk operation {status['status']}: {status.get('errorCode')}")
        if waited >= timeout:
            raise TransientError(f"bulk operation still {status['status']} after {timeout:.0f}s")
        sleep(interval)
        waited += interval


def gid_type(gid: str) -> str:
    # gid://shopify/LineItem/123 → LineItem
    parts = gid.split("/")
    return parts[3] if len(parts) > 3 else ""


def assemble(lines: Iterable[str], workdir: Path) -> Iterator[dict[str, Any]]:
    """Top-level objects with their children attached, whatever the line order."""
    db = sqlite3.connect(workdir / "bulk.sqlite")
    try:
        db.execute("CREATE TABLE line (seq INTEGER PRIMARY KEY, id TEXT, parent TEXT, body TEXT)")
        db.executemany(
            "INSERT INTO line (id, parent, body) VALUES (?, ?, ?)",
            (
                (obj.get("id"), obj.get("__parentId"), text)
                for text in lines
                if text.strip()
                for obj in (json.loads(text),)
            ),
        )
        db.execute("CREATE INDEX by_parent ON line (parent)")
        parents = db.execute("SELECT id, body FROM line WHERE parent IS NULL ORDER BY seq")
        for gid, body in parents:
            obj = json.loads(body)
            children = db.execute(
                "SELECT body FROM line WHERE parent = ? ORDER BY seq", (gid,)
            ).fetchall()
            for (child_body,) in children:
                child = json.loads(child_body)
                child.pop("__parentId", None)
                field = CHILD_FIELD.get(gid_type(str(child.get("id"))), "children")
                obj.setdefault(field, []).append(child)
            yield obj
    finally:
        db.close()


def publish_all(
    objects: Iterable[dict[str, Any]],
    *,
    shop: str,
    resource: str,
    bus: Bus,
    now: Callable[[], datetime],
    progress: Callable[[int], None] = lambda _: None,
    own_app_ids: frozenset[str] = frozenset(),
) -> Summary:
    """``own_app_ids``: orders our app created with our ``sourceIdentifier`` are published
    as versions of their CRM orders (``orderhub.shopify.markers``), never as new orders."""
    spec = RESOURCES[resource]
    summary = Summary(resource=resource)
    received = now()
    for node in objects:
        summary.objects += 1
        rest = spec.to_rest(node)
        topic = "orders/cancelled" if rest.get("cancelled_at") else spec.update_topic
        body = json.dumps(rest, separators=(",", ":")).encode()
        delivery = shopify.Delivery(
            topic, shop, f"backfill:{node.get('id')}", None, None, received, own_app_ids
        )
        raw: Raw = {
            "raw_id": shopify.stable_reconcile_id(shop, str(node.get("id")), rest["updated_at"]),
            "kind": "shopify_backfill",
            "received_at": iso(received),
            "sha256": hashlib.sha256(body).hexdigest(),
            "body": body.decode(),
            "meta": {"topic": topic, "gid": str(node.get("id"))},
        }
        event = shopify.normalise(delivery, body, raw)
        event["origin"] = "backfill"
        bus.publish(event)
        summary.published += 1
        for refund in node.get("refunds") or []:  # every refund of the shop's history
            refund_rest = shopify_graphql.refund_node_to_rest(refund, str(rest["id"]))
            bus.publish(
                refund_event(
                    refund_rest,
                    gid=str(refund.get("id")),
                    shop=shop,
                    kind="shopify_backfill",
                    received_at=received,
                    origin="backfill",
                )
            )
            summary.refunds += 1
        progress(1)
    return summary


def backfill(
    *,
    shop: str,
    resource: str,
    graphql: GraphQL,
    download: Callable[[str], Iterable[str]],
    bus: Bus,
    now: Callable[[], datetime],
    sleep: Sleep = time.sleep,
    on_status: Callable[[dict[str, Any]], None] = lambda _: None,
    progress: Callable[[int], None] = lambda _: None,
    own_app_ids: frozenset[str] = frozenset(),
) -> Summary:
    """Run the export, then publish every object; ``download(url)`` yields JSONL lines."""
    started = time.monotonic()
    throttle = CostThrottle(sleep=sleep)
    operation = start(graphql, throttle, resource)
    status = wait(graphql, throttle, operation, sleep=sleep, on_status=on_status)
    if not status.get("url"):  # an empty shop: Shopify gives no file
        return Summary(resource=resource, seconds=time.monotonic() - started)
    with tempfile.TemporaryDirectory(prefix="orderhub-backfill-") as workdir:
        summary = publish_all(
            assemble(download(str(status["url"])), Path(workdir)),
            shop=shop,
            resource=resource,
            bus=bus,
            now=now,
            progress=progress,
            own_app_ids=own_app_ids,
        )
    summary.seconds = round(time.monotonic() - started, 3)
    return summary
