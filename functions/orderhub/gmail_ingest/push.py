"""Gmail's push notification, read out of its Pub/Sub message."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from orderhub.errors import PoisonMessage
from orderhub.event import parse_time
from orderhub.pubsub import pubsub_message


def notification(data: bytes) -> tuple[str, int | None]:
    """``(emailAddress, historyId)`` from a push message; ``PoisonMessage`` if not one."""
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage("Gmail notification is not JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("emailAddress"), str):
        raise PoisonMessage("Gmail notification has no emailAddress")
    raw_id = payload.get("historyId")
    try:
        history_id = int(raw_id) if raw_id not in (None, "") else None
    except (TypeError, ValueError) as exc:
        raise PoisonMessage("Gmail notification historyId is not a number") from exc
    return payload["emailAddress"].strip().lower(), history_id


def published_at(cloud_event: Any) -> datetime | None:
    """When Pub/Sub accepted the notification (``publishTime``), if it says."""
    message = pubsub_message(cloud_event)
    published = message.get("publishTime") or message.get("publish_time")
    try:
        return parse_time(str(published)) if published else None
    except ValueError:
        return None
