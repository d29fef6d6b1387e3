"""CloudEvent adapter: one canonical event → rows in the BigQuery CRM (``sinks.bigquery``).

A message that is not an event, or an event whose values do not fit the tables, is
written to ``quarantine`` (bytes kept in ``raw_events``) and acknowledged: retrying
cannot help. BigQuery being away raises, so Pub/Sub redelivers.
"""

from __future__ import annotations

from typing import Any

from orderhub import logs
from orderhub.crm_writer import wiring
from orderhub.crm_writer.write import write
from orderhub.errors import PoisonMessage
from orderhub.pubsub import event_or_quarantine, pubsub_message, quarantine_event
from orderhub.sinks.bigquery import write_event


def handle(cloud_event: Any) -> None:
    event, message_id, poison = event_or_quarantine(cloud_event, received_at=wiring.now())
    try:
        tables = write(event, inserter=wiring.inserter(), changes=wiring.changes(), now=wiring.now)
    except PoisonMessage as refused:  # values that do not fit, or a row refused for good
        poison = refused.reason
        event = quarantine_event(pubsub_message(cloud_event), poison, received_at=wiring.now())
        write_event(event, inserter=wiring.inserter(), now=wiring.now)
    if poison:
        logs.warning("crm_writer quarantined a message", reason=poison)
        return
    logs.info(
        "event written",
        event_id=event["event_id"],
        event_type=event["event_type"],
        source=event["source"],
        shop=event["shop"],
        message_id=message_id,
        tables=tables,
        lag_s=logs.seconds_since(event.get("raw", {}).get("received_at"), wiring.now()),
    )
