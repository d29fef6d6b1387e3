"""CloudEvent adapter: one canonical event → rows in the BigQuery CRM."""

from __future__ import annotations

import base64
import functools
import os
from datetime import UTC, datetime
from typing import Any

from orderhub import gcp, logs
from orderhub.errors import PoisonMessage
from orderhub.event import decode, make_event, stable_id, version_of
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


def handle(cloud_event: Any) -> None:
    inserter = _inserter()
    try:
        data, message_id = message_data(cloud_event)
        event = decode(data)
    except PoisonMessage as poison:
        # Not an event at all: keep the bytes with the reason, then let the message go.
        at = _now()
        body = (cloud_event.data or {}).get("message", {}).get("data") or ""
        raw_id = stable_id("pubsub", cloud_event["id"] if "id" in cloud_event else body)
        event = make_event(
            event_type="payload.quarantined",
            source="pubsub",
            shop="",
            occurred_at=at,
            version=version_of(at),
            entity_id=raw_id,
            entity={"reason": poison.reason, "kind": "pubsub_message", "topic": None, "ref": None},
            raw={
                "raw_id": raw_id,
                "kind": "pubsub_message",
                "received_at": at.isoformat(),
                "sha256": "",
                "body": body if isinstance(body, str) else base64.b64encode(body).decode(),
                "meta": {"encoding": "base64"},
            },
        )
        logs.warning("crm_writer quarantined a message", reason=poison.reason)
        write_event(event, inserter=inserter, now=_now)
        return
    tables = write_event(event, inserter=inserter, now=_now)
    logs.info(
        "event written",
        event_id=event["event_id"],
        event_type=event["event_type"],
        message_id=message_id,
        tables=tables,
    )
