"""Sending records to Shopify again: one record, a source, every failed one, or everything.

``--all orders|customers|products`` (``send_all``) runs every CRM record of a kind through
the sync's own ``handle`` in this process: the same claims, lookups before create and links
(so a record Shopify holds is not written again, and a second run sends nothing), paced by
the shop's cost bucket (the writer's ``PacedThrottle``), with a cursor in Firestore so an
interrupted run resumes where it stopped.

The records come from the ``sync_status`` view (what failed, was skipped or still waits);
the events from the newest version of each order in ``order_events`` (its ``entity``
column holds the whole canonical order). Each is published again to ``order-events``
with its own ``event_id``, so every other consumer sees a duplicate and does nothing
(crm_writer's views de-duplicate, the notifier has already claimed it), and shopify_sync
writes it if the switches now allow and it is not in Shopify yet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from orderhub.bus import Bus
from orderhub.event import Event, event_from_row

SELECT = """
SELECT o.event_id, o.event_type, o.source, o.shop, o.occurred_at, o.version, o.order_id,
       TO_JSON_STRING(o.entity) AS entity_json, s.status, s.reason
FROM `{ds}.sync_status` AS s
JOIN `{ds}.order_events` AS o
  ON o.shop = COALESCE(s.crm_shop, s.shop) AND o.source = s.source
  AND o.order_id = s.record_id
WHERE s.direction = 'outbound' AND s.entity = 'order' AND s.shop = @shop
  AND s.status != 'synced'
  AND (@record_id = '' OR s.record_id = @record_id)
  AND (@source = '' OR s.source = @source)
  AND (@failed_only = FALSE OR s.status = 'failed')
  AND o.shopify_order_id IS NULL
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY o.shop, o.source, o.order_id ORDER BY o.version DESC, o.event_id
) = 1
ORDER BY o.occurred_at
"""


@dataclass(frozen=True)
class Selection:
    shop: str
    record_id: str = ""
    source: str = ""
    failed_only: bool = False


def pending(client: Any, dataset: str, selection: Selection) -> list[dict[str, Any]]:
    """The orders to send again (newest version of each), oldest first."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("shop", "STRING", selection.shop),
            bigquery.ScalarQueryParameter("record_id", "STRING", selection.record_id),
            bigquery.ScalarQueryParameter("source", "STRING", selection.source),
            bigquery.ScalarQueryParameter("failed_only", "BOOL", selection.failed_only),
        ]
    )
    sql = SELECT.replace("{ds}", f"{client.project}.{dataset}")
    return [dict(row) for row in client.query(sql, job_config=config).result(timeout=60)]


def rebuild(row: dict[str, Any]) -> Event:
    """The canonical event back from its ``order_events`` row."""
    return event_from_row(row)


def resend(rows: Sequence[dict[str, Any]], bus: Bus) -> list[str]:
    """Publish each row's event again; the order ids sent."""
    sent = []
    for row in rows:
        event = rebuild(row)
        bus.publish(event)
        sent.append(event["entity_id"])
    return sent


# ------------------------------------------------------------------- --all (issue 24)
#: ``scripts/resync --all KIND``: the table, its id column and the canonical entity type.
ALL_KINDS: dict[str, tuple[str, str, str]] = {
    "orders": ("order_events", "order_id", "order"),
    "customers": ("customer_events", "customer_id", "customer"),
    "products": ("product_events", "product_id", "product"),
}

ALL_SQL = """
SELECT event_id, event_type, source, shop, occurred_at, version, {id} AS record_id,
       TO_JSON_STRING(entity) AS entity_json
FROM `{ds}.{table}`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, source, {id} ORDER BY version DESC, event_id) = 1
  AND source NOT IN ('shopify', 'pubsub')
  AND event_type NOT LIKE '%.deleted'
ORDER BY shop, source, {id}
"""


def record_key(row: dict[str, Any]) -> str:
    """Where a record sorts in a run (the cursor): the CRM shop, source and id."""
    return f"{row['shop']}|{row['source']}|{row['record_id']}"


def every_record(client: Any, dataset: str, kind: str) -> list[dict[str, Any]]:
    """The newest CRM version of every record of ``kind`` that Shopify did not send us
    (Shopify's own records are Shopify's already), in cursor order."""
    table, id_column, _ = ALL_KINDS[kind]
    sql = ALL_SQL.format(ds=f"{client.project}.{dataset}", table=table, id=id_column)
    rows = [dict(r) for r in client.query(sql).result(timeout=120)]
    return sorted(rows, key=record_key)


def event_of(row: dict[str, Any], kind: str) -> Event:
    """The canonical event back from a row of ``every_record``."""
    return event_from_row(row, entity_type=ALL_KINDS[kind][2], id_column="record_id")


class Cursor(Protocol):
    """Where an interrupted ``--all`` run stopped (the last record key done)."""

    def get(self) -> str | None: ...

    def put(self, key: str) -> None: ...

    def clear(self) -> None: ...


class FirestoreCursor:
    """``{prefix}resync_cursors/{shop}|{kind}``: kept while a run is under way, removed when
    it completes (the next run starts from the beginning and sends only what changed)."""

    def __init__(self, client: Any, collection: str, shop: str, kind: str) -> None:
        self._doc = client.collection(collection).document(f"{shop}|{kind}")

    def get(self) -> str | None:
        snapshot = self._doc.get(timeout=10.0)
        return (snapshot.to_dict() or {}).get("after") if snapshot.exists else None

    def put(self, key: str) -> None:
        self._doc.set({"after": key}, timeout=10.0)

    def clear(self) -> None:
        self._doc.delete(timeout=10.0)


@dataclass
class Summary:
    kind: str
    shop: str
    total: int = 0
    sent: int = 0  # written into Shopify by this run
    unchanged: int = 0  # Shopify holds it already, or nothing of it is to be written
    failed: int = 0  # refused: sync_status says why in plain words
    waiting: int = 0  # unreachable or throttled beyond our waits: the next run retries
    resumed_after: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, {})}


def send_all(
    rows: Sequence[dict[str, Any]],
    *,
    kind: str,
    shop: str,
    handle: Callable[[Event], Any],
    shop_of: Callable[[str], str | None],
    cursor: Cursor,
    progress: Callable[[int], None] = lambda _n: None,
) -> Summary:
    """Send every record of ``kind`` for ``shop`` through the sync's own ``handle`` (its
    claims, lookups, links and cost pacing), after the cursor; the cursor follows each
    record, and is cleared when the run completes."""
    from orderhub.errors import TransientError

    entity = ALL_KINDS[kind][2]
    summary = Summary(kind, shop)
    after = cursor.get()
    summary.resumed_after = after
    mine = [r for r in rows if shop_of(str(r["shop"])) == shop]
    todo = [r for r in mine if after is None or record_key(r) > after]
    summary.total = len(mine)
    summary.unchanged += len(mine) - len(todo) if after else 0
    for row in todo:
        try:
            result = handle(event_of(row, kind))
        except TransientError as exc:
            summary.waiting += 1
            summary.reasons[str(exc)[:80]] = summary.reasons.get(str(exc)[:80], 0) + 1
        else:
            outcomes = [o for o in getattr(result, "outcomes", []) if o.entity == entity]
            status = outcomes[-1].status if outcomes else "skipped"
            if status == "synced":
                summary.sent += 1
            elif status == "failed":
                summary.failed += 1
            else:
                summary.unchanged += 1
        cursor.put(record_key(row))
        progress(1)
    cursor.clear()
    return summary
