"""Sending records to Shopify again: one record, a source, or every failed one.

The records come from the ``sync_status`` view (what failed, was skipped or still waits);
the events from the newest version of each order in ``order_events`` (its ``entity``
column holds the whole canonical order). Each is published again to ``order-events``
with its own ``event_id``, so every other consumer sees a duplicate and does nothing
(crm_writer's views de-duplicate, the notifier has already claimed it), and shopify_sync
writes it if the switches now allow and it is not in Shopify yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orderhub.bus import Bus
from orderhub.event import Event, iso

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
    entity = row["entity_json"]
    while isinstance(entity, str):  # JSON columns come back as text, sometimes twice
        entity = json.loads(entity)
    occurred = row["occurred_at"]
    return {
        "schema_version": 1,
        "event_id": str(row["event_id"]),
        "event_type": str(row["event_type"]),
        "source": str(row["source"]),
        "shop": str(row["shop"]),
        "occurred_at": occurred if isinstance(occurred, str) else iso(occurred),
        "version": int(row["version"]),
        "entity_type": "order",
        "entity_id": str(row["order_id"]),
        "entity": dict(entity or {}),
    }


def resend(rows: Sequence[dict[str, Any]], bus: Bus) -> list[str]:
    """Publish each row's event again; the order ids sent."""
    sent = []
    for row in rows:
        event = rebuild(row)
        bus.publish(event)
        sent.append(event["entity_id"])
    return sent
