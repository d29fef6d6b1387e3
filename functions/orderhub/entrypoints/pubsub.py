"""Reading the Pub/Sub message out of an Eventarc / push CloudEvent."""

from __future__ import annotations

import base64
from typing import Any

from orderhub.errors import PoisonMessage


def message_data(cloud_event: Any) -> tuple[bytes, str]:
    """The message's data bytes and its message id."""
    data = cloud_event.data if isinstance(cloud_event.data, dict) else {}
    message = data.get("message") or {}
    try:
        payload = base64.b64decode(message.get("data") or "", validate=True)
    except (ValueError, TypeError) as exc:
        raise PoisonMessage("Pub/Sub message data is not base64") from exc
    return payload, str(message.get("messageId") or message.get("message_id") or "")
