"""The core of ``shopify_webhook``: authenticate, normalise, claim, publish. No Flask here.

``receive`` returns an ``Outcome`` or raises ``Unauthenticated`` (401) or
``TransientError`` (503, so Shopify retries). An authenticated body we cannot read is
not an error for the sender: it is published as a ``payload.quarantined`` event (kept
verbatim, with the reason) and answered 200, because retrying cannot help.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from orderhub.bus import PublishOnce
from orderhub.errors import PoisonMessage, Unauthenticated
from orderhub.event import Event, Raw, iso, make_event, stable_id, version_of
from orderhub.sources import shopify


@dataclass(frozen=True)
class Outcome:
    status: str  # "accepted" | "quarantined" | "duplicate"
    event_id: str | None
    reason: str | None = None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A Shopify header by its short name, in either the ``X-Shopify-`` or ``shopify-`` form.

    ``headers`` must be case-insensitive (Flask's are); both spellings are tried.
    """
    return headers.get(f"X-Shopify-{name}") or headers.get(f"Shopify-{name}")


def signature(secret: str, body: bytes) -> str:
    """The value Shopify puts in ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str, body: bytes, received: str | None) -> bool:
    """Constant-time check of a received signature over the raw bytes."""
    if not received:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), received.strip().encode())


def _raw(delivery: shopify.Delivery, body: bytes, api_version: str | None) -> Raw:
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    meta = {
        "topic": delivery.topic,
        "webhook_id": delivery.webhook_id,
        "shopify_event_id": delivery.event_id or "",
        "triggered_at": delivery.triggered_at or "",
        "api_version": api_version or "",
        "encoding": encoding,
    }
    return {
        "raw_id": stable_id("shopify", delivery.shop, delivery.webhook_id),
        "kind": "shopify_webhook",
        "received_at": iso(delivery.received_at),
        "sha256": hashlib.sha256(body).hexdigest(),
        "body": text,
        "meta": meta,
    }


def quarantine_event(
    *, source: str, shop: str, raw: Raw, reason: str, ref: str, topic: str | None, at: datetime
) -> Event:
    """The event that carries an unreadable payload, verbatim, to the quarantine table."""
    return make_event(
        event_type="payload.quarantined",
        source=source,
        shop=shop,
        occurred_at=at,
        version=version_of(at),
        entity_id=raw["raw_id"],
        entity={"reason": reason, "kind": raw["kind"], "topic": topic, "ref": ref},
        raw=raw,
    )


def receive(
    *,
    headers: Mapping[str, str],
    body: bytes,
    shop_secrets: Mapping[str, str],
    once: PublishOnce,
    now: Callable[[], datetime],
    own_app_ids: frozenset[str] = frozenset(),
) -> Outcome:
    shop = (header(headers, "Shop-Domain") or "").strip().lower()
    secret = shop_secrets.get(shop)
    if secret is None or not verify(secret, body, header(headers, "Hmac-Sha256")):
        raise Unauthenticated("missing or wrong HMAC for this shop")

    received_at = now()
    topic = (header(headers, "Topic") or "").strip()
    # Shopify always sends a webhook id; if a proxy drops it, the body's hash is the
    # next best identity of "this delivery".
    webhook_id = (
        header(headers, "Webhook-Id") or hashlib.sha256(topic.encode() + b"\0" + body).hexdigest()
    )
    delivery = shopify.Delivery(
        topic=topic,
        shop=shop,
        webhook_id=webhook_id,
        event_id=header(headers, "Event-Id"),
        triggered_at=header(headers, "Triggered-At"),
        received_at=received_at,
        own_app_ids=own_app_ids,
    )
    raw = _raw(delivery, body, header(headers, "API-Version"))
    try:
        event = shopify.normalise(delivery, body, raw)
        status, reason = "accepted", None
    except PoisonMessage as poison:
        event = quarantine_event(
            source=shopify.SOURCE,
            shop=shop,
            raw=raw,
            reason=poison.reason,
            ref=webhook_id,
            topic=topic,
            at=received_at,
        )
        status, reason = "quarantined", poison.reason

    first = once(
        event,
        key=f"shopify:{shop}:{webhook_id}",
        record={"event_id": event["event_id"], "topic": topic},
        at=received_at,
    )
    if not first:
        return Outcome("duplicate", event["event_id"])
    return Outcome(status, event["event_id"], reason)
