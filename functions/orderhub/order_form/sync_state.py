"""Each record's Shopify sync, for the lists' status column and "Send to Shopify now".

No Flask here. Statuses come from ``sync_log`` (the newest outbound outcome per record,
as the ``sync_status`` view picks it): one bounded query per list page, never per row.
"Send to Shopify now" of an order publishes its newest CRM version again, with its own
``event_id`` (as ``scripts/resync`` does): crm_writer and the notifier see the duplicate
it is, and ``shopify_sync`` writes only what Shopify does not hold yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orderhub.event import Event, event_from_row

Row = dict[str, Any]
Runner = Callable[[str, Sequence[tuple[str, str, Any]]], list[Row]]

#: The outbound entities that tell a record's state, per list.
ENTITIES = {
    "order": ("order", "order_update", "order_cancel"),
    "customer": ("customer",),
}
MAX_IDS = 100

STATUS_SQL = """
SELECT record_id, entity, status, reason, error_code, shopify_id, attempted_at AS updated_at
FROM `{t}.sync_log`
WHERE attempted_at >= @since AND direction = 'outbound'
  AND entity IN UNNEST(@entities) AND record_id IN UNNEST(@ids)
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY record_id ORDER BY attempted_at DESC, log_id DESC
) = 1
"""

ORDER_EVENT_SQL = """
SELECT event_id, event_type, source, shop, occurred_at, version, order_id,
       TO_JSON_STRING(entity) AS entity_json
FROM `{t}.order_events`
WHERE occurred_at >= @since AND order_id = @order_id AND source != 'shopify'
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY shop, source, order_id
  ORDER BY version DESC, IF(event_type = 'order.cancelled', 0, 1), event_id
) = 1
LIMIT 2
"""

LABELS = {
    "synced": "In Shopify",
    "skipped": "Not sent",
    "failed": "Refused",
    "waiting": "Waiting",
}


@dataclass(frozen=True)
class State:
    status: str  # synced | skipped | failed | waiting | none
    reason: str
    shopify_id: str | None = None
    at: datetime | None = None

    @property
    def label(self) -> str:
        return LABELS.get(self.status, "Not sent yet")


NONE = State("none", "nothing was sent to Shopify yet")


def customer_record_id(email: str | None, phone: str | None) -> str:
    """The id ``shopify_sync`` logs a customer under: the e-mail, else the phone."""
    return (email or "").strip().lower() or (phone or "").replace(" ", "")


def states(run: Runner, kind: str, ids: Iterable[str], *, since: datetime) -> dict[str, State]:
    """The newest outbound outcome of each record (``kind``: order or customer)."""
    wanted = sorted({i for i in ids if i})[:MAX_IDS]
    if not wanted:
        return {}
    rows = run(
        STATUS_SQL,
        [
            ("since", "TIMESTAMP", since),
            ("entities", "ARRAY<STRING>", list(ENTITIES[kind])),
            ("ids", "ARRAY<STRING>", wanted),
        ],
    )
    return {
        str(r["record_id"]): State(
            str(r["status"]), str(r.get("reason") or ""), r.get("shopify_id"), r.get("updated_at")
        )
        for r in rows
    }


def newest_order_event(run: Runner, order_id: str, *, since: datetime) -> Event | None:
    """The order's newest CRM version as its canonical event (``None``: no such order, or
    one that Shopify owns, which is never written back)."""
    rows = run(ORDER_EVENT_SQL, [("since", "TIMESTAMP", since), ("order_id", "STRING", order_id)])
    if len(rows) != 1:
        return None  # none, or the same number in two sources: say nothing rather than guess
    return event_from_row(rows[0])
