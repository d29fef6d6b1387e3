"""The periodic id check: find what Shopify deleted while its delete webhook was missed.

A deleted object no longer appears in ``updated_at`` queries, so reconciliation by time
cannot see a delete. Each run therefore compares the ids the CRM holds as existing (the
``customers`` and ``products`` views; ``orders`` once the CRM handles ``orders/delete``)
with Shopify's: ``nodes(ids: [...])`` answers ``null`` for an id that no longer exists.
For each of those a delete event is published, exactly as the delete webhook would have
been (``{"id": ...}`` under ``<resource>/delete``, versioned by the time it was found).

Orders are checked only within the last ``ORDER_WINDOW`` days: without ``read_all_orders``
Shopify answers null for older orders, which must not read as deleted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orderhub.bus import Bus
from orderhub.event import Raw, iso, stable_id
from orderhub.shopify.graphql import CostThrottle, GraphQL, Sleep, call
from orderhub.sources import shopify

#: resource → (GraphQL type, delete topic)
CHECKED = {
    "customers": ("Customer", "customers/delete"),
    "products": ("Product", "products/delete"),
    "orders": ("Order", "orders/delete"),
}
#: Orders older than this are not checked (see the module docstring).
ORDER_WINDOW = timedelta(days=55)
#: Ids per ``nodes`` query: 1 point each, so a batch costs about 100 points.
BATCH = 100

NODES_QUERY = """
query orderhubIdCheck($ids: [ID!]!) {
  nodes(ids: $ids) { id }
}
"""

#: (resource, shop) → ids the CRM holds as existing
ExistingIds = Callable[[str, str], Sequence[str]]


@dataclass
class Summary:
    resource: str
    checked: int = 0
    deleted: int = 0


def checked_resources() -> list[str]:
    """The resources whose deletes the CRM understands (``orders`` needs ``orders/delete``)."""
    return [name for name, (_, topic) in CHECKED.items() if topic in shopify.TOPICS]


def find_deleted(
    *,
    shop: str,
    resource: str,
    graphql: GraphQL,
    existing_ids: ExistingIds,
    bus: Bus,
    now: Callable[[], datetime],
    sleep: Sleep,
) -> Summary:
    type_name, topic = CHECKED[resource]
    summary = Summary(resource=resource)
    throttle = CostThrottle(sleep=sleep)
    ids = list(dict.fromkeys(existing_ids(resource, shop)))
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        gids = [f"gid://shopify/{type_name}/{i}" for i in batch]
        answer = call(graphql, throttle, NODES_QUERY, {"ids": gids}).get("nodes") or []
        summary.checked += len(batch)
        for legacy, node in zip(batch, answer, strict=False):
            if node is None:
                bus.publish(delete_event(shop, topic, legacy, found_at=now()))
                summary.deleted += 1
    return summary


def delete_event(shop: str, topic: str, legacy_id: str, *, found_at: datetime) -> Any:
    """The delete webhook's event for an object found missing at ``found_at``."""
    body = json.dumps({"id": int(legacy_id) if legacy_id.isdigit() else legacy_id}).encode()
    delivery = shopify.Delivery(topic, shop, f"idcheck:{legacy_id}", None, iso(found_at), found_at)
    raw: Raw = {
        "raw_id": stable_id("shopify-idcheck", shop, topic, legacy_id),
        "kind": "shopify_idcheck",
        "received_at": iso(found_at),
        "sha256": hashlib.sha256(body).hexdigest(),
        "body": body.decode(),
        "meta": {"topic": topic},
    }
    event = shopify.normalise(delivery, body, raw)
    event["origin"] = "reconcile"
    return event
