"""``POST /contacts``: authenticate, normalise, publish, answer. No Flask here."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orderhub.errors import PoisonMessage
from orderhub.event import Event, quarantine_event
from orderhub.sources import manychat


@dataclass(frozen=True)
class Answer:
    """What the function answers: status and a JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


def authentic(headers: Mapping[str, str], header: str, secret: str) -> bool:
    """The shared secret, compared in constant time (``headers`` case-insensitive)."""
    received = headers.get(header) or ""
    return hmac.compare_digest(received.strip().encode("utf-8"), secret.encode("utf-8"))


def receive(
    body: bytes,
    *,
    shop: str,
    publish: Callable[[Event], None],
    now: Callable[[], datetime],
    default_country: str,
    attribution_days: int,
    ignore: Callable[[str], bool] = lambda contact_id: False,
) -> Answer:
    """One authenticated post → a published ``contact.touched`` event (200), or the body
    quarantined and a 400 with the reason. ``TransientError`` from ``publish`` propagates
    (the caller answers 503: nothing was kept, the bot may try again)."""
    received_at = now()
    raw = manychat.raw_record(body, shop=shop, route="contacts", received_at=received_at)
    try:
        event = manychat.normalise(
            body, shop=shop, raw=raw, received_at=received_at, default_country=default_country
        )
    except PoisonMessage as poison:
        publish(
            quarantine_event(
                source=manychat.SOURCE,
                shop=shop,
                raw=raw,
                reason=poison.reason,
                ref=raw["raw_id"],
                topic="contacts",
                at=received_at,
            )
        )
        return Answer(400, {"status": "error", "reason": poison.reason})
    event["entity"]["attribution_window_days"] = attribution_days
    if ignore(event["entity"]["contact_id"]):  # a manager's own id: not a customer's touch
        reason = "a manager's subscriber id: not kept as a contact"
        return Answer(200, {"status": "ignored", "contact_id": None, "reason": reason})
    publish(event)
    contact = event["entity"]
    return Answer(
        200,
        {
            "status": "accepted",
            "contact_id": contact["contact_id"],
            "event_id": event["event_id"],
            # For the bot's response mapping: ask again when the phone could not be read.
            "phone_valid": contact["phone_valid"],
            "phone": contact["phone"],
        },
    )
