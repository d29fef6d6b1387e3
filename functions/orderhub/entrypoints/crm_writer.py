"""CloudEvent adapter: one canonical event → rows in the BigQuery CRM.

A message that is not an event, or an event whose values do not fit the tables, is
written to ``quarantine`` (bytes kept in ``raw_events``) and acknowledged: retrying
cannot help. BigQuery being away raises, so Pub/Sub redelivers.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

from orderhub import gcp, logs
from orderhub.errors import PoisonMessage
from orderhub.event import Event, decode, iso, make_event, stable_id, version_of
from orderhub.settings import CrmSettings
from orderhub.sinks.bigquery import BigQueryInserter, write_event

from .pubsub import message_data


@functools.cache
def _inserter() -> BigQueryInserter:
    settings = CrmSettings.from_env()
    endpoint = os.environ.get("BIGQUERY_EMULATOR_HOST") or None
    return BigQueryInserter(gcp.bigquery_client(settings.project, endpoint), settings.dataset)


def _now() -> datetime:
    return datetime.now(UTC)


def _quarantine(message: dict[str, Any], reason: str) -> Event:
    """The undeliverable message itself, as a quarantine event (base64 data kept verbatim)."""
    at = _now()
    data = str(message.get("data") or "")
    raw_id = stable_id("pubsub", message.get("messageId") or message.get("message_id"), data)
    return make_event(
        event_type="payload.quarantined",
        source="pubsub",
        shop="",
        occurred_at=at,
        version=version_of(at),
        entity_id=raw_id,
        entity={"reason": reason, "kind": "pubsub_message", "topic": None, "ref": raw_id},
        raw={
            "raw_id": raw_id,
            "kind": "pubsub_message",
            "received_at": iso(at),
            "sha256": "",
            "body": data,
            "meta": {"encoding": "base64"},
        },
    )


def handle(cloud_event: Any) -> None:
    inserter = _inserter()
    try:
        data, message_id = message_data(cloud_event)
        event = decode(data)
        tables = write_event(event, inserter=inserter, now=_now)
    except PoisonMessage as poison:
        message = (cloud_event.data or {}).get("message") or {}
        logs.warning("crm_writer quarantined a message", reason=poison.reason)
        write_event(_quarantine(message, poison.reason), inserter=inserter, now=_now)
        return
    logs.info(
        "event written",
        event_id=event["event_id"],
        event_type=event["event_type"],
        message_id=message_id,
        tables=tables,
    )
