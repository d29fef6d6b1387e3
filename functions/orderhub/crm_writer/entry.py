"""CloudEvent adapter: one canonical event → rows in the BigQuery CRM.

A message that is not an event, or an event whose values do not fit the tables, is
written to ``quarantine`` (bytes kept in ``raw_events``) and acknowledged: retrying
cannot help. BigQuery being away raises, so Pub/Sub redelivers.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from orderhub import gcp, logs
from orderhub.crm_writer.settings import CrmSettings
from orderhub.errors import PoisonMessage
from orderhub.event import decode
from orderhub.pubsub import message_data, pubsub_message, quarantine_event
from orderhub.sinks.bigquery import BigQueryInserter, write_event


@functools.cache
def _inserter() -> BigQueryInserter:
    settings = CrmSettings.from_env()
    client = gcp.bigquery_client(settings.project, settings.bigquery_endpoint)
    return BigQueryInserter(client, settings.dataset)


def _now() -> datetime:
    return datetime.now(UTC)


def handle(cloud_event: Any) -> None:
    inserter = _inserter()
    try:
        data, message_id = message_data(cloud_event)
        event = decode(data)
        tables = write_event(event, inserter=inserter, now=_now)
    except PoisonMessage as poison:
        logs.warning("crm_writer quarantined a message", reason=poison.reason)
        event = quarantine_event(pubsub_message(cloud_event), poison.reason, received_at=_now())
        write_event(event, inserter=inserter, now=_now)
        return
    logs.info(
        "event written",
        event_id=event["event_id"],
        event_type=event["event_type"],
        message_id=message_id,
        tables=tables,
    )
