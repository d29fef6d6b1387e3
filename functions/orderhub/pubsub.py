"""Reading the Pub/Sub message out of an Eventarc / push CloudEvent."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from orderhub.errors import PoisonMessage
from orderhub.event import Event, decode, iso, make_event, parse_time, stable_id, version_of


def pubsub_message(cloud_event: Any) -> dict[str, Any]:
    """The Pub/Sub message of a push / Eventarc CloudEvent, as a dict (``{}`` if none)."""
    data = cloud_event.data if isinstance(cloud_event.data, dict) else {}
    message = data.get("message")
    return message if isinstance(message, dict) else {}


def message_id(message: dict[str, Any]) -> str:
    """Its id, in either spelling (push JSON or Eventarc)."""
    return str(message.get("messageId") or message.get("message_id") or "")


def message_data(cloud_event: Any) -> tuple[bytes, str]:
    """The message's data bytes and its message id."""
    message = pubsub_message(cloud_event)
    try:
        payload = base64.b64decode(message.get("data") or "", validate=True)
    except (ValueError, TypeError) as exc:
        raise PoisonMessage("Pub/Sub message data is not base64") from exc
    return payload, message_id(message)


def quarantine_event(message: dict[str, Any], reason: str, *, received_at: datetime) -> Event:
    """A message that is not an event, as a ``payload.quarantined`` event (data verbatim).

    Every consumer of the topic derives the same event from the same message (its id is
    made of the message id, its data and its publish time), so crm_writer keeps it once
    and the notifier alerts the managers once, however often it is delivered.
    """
    data = str(message.get("data") or "")
    raw_id = stable_id("pubsub", message_id(message), data)
    published = message.get("publishTime") or message.get("publish_time")
    try:
        moment = parse_time(str(published)) if published else None
    except ValueError:
        moment = None
    return make_event(
        event_type="payload.quarantined",
        source="pubsub",
        shop="",
        occurred_at=moment or received_at,
        version=version_of(moment) if moment else 0,
        entity_id=raw_id,
        entity={"reason": reason, "kind": "pubsub_message", "topic": None, "ref": raw_id},
        raw={
            "raw_id": raw_id,
            "kind": "pubsub_message",
            "received_at": iso(received_at),
            "sha256": "",
            "body": data,
            "meta": {"encoding": "base64"},
        },
    )


def event_or_quarantine(
    cloud_event: Any, *, received_at: datetime
) -> tuple[Event, str, str | None]:
    """``(event, message id, None)`` for a message that carries an event; for one that does
    not, ``(its payload.quarantined event, message id, the reason)``."""
    message = pubsub_message(cloud_event)
    try:
        data, pubsub_id = message_data(cloud_event)
        return decode(data), pubsub_id, None
    except PoisonMessage as poison:
        event = quarantine_event(message, poison.reason, received_at=received_at)
        return event, message_id(message), poison.reason
