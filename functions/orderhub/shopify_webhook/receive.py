"""The core of ``shopify_webhook``: authenticate, normalise, claim, publish. No Flask here.

``admit`` runs before the body is read: an unknown shop is ``Unauthenticated`` (401) and a
body with no ``Content-Length``, or one over the limit, is ``BodyTooLarge`` (413), so a
stranger cannot make us read megabytes. ``receive`` returns an ``Outcome`` or raises
``Unauthenticated`` (401) or ``TransientError`` (503, so Shopify retries). An
authenticated body we cannot read is not an error for the sender: it is published as a
``payload.quarantined`` event (kept verbatim, with the reason) and answered 200, because
retrying cannot help. One whose event would be too large to publish is quarantined as a
stub that keeps its hash and size, never claimed and then dropped.

**Duplicates** are recognised by the shop, the topic and the SHA-256 of the body, not by
the unsigned ``X-Shopify-Webhook-Id`` alone: a captured body sent again under a fresh
webhook id is the same delivery. (Shopify's own retries resend the same bytes.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from orderhub.bus import MAX_PUBLISH_BYTES, PublishOnce
from orderhub.errors import BodyTooLarge, PoisonMessage, Unauthenticated
from orderhub.event import (
    Event,
    Raw,
    encode,
    iso,
    quarantine_event,
    stable_id,
)
from orderhub.sources import shopify

#: The default most a webhook body may be (``WEBHOOK_MAX_BODY_BYTES``). Shopify's order
#: bodies are tens of kilobytes; even a 250-line order is far below 1 MiB.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

#: The most an encoded event may be and still be published (Pub/Sub takes 10 MB a message).
MAX_EVENT_BYTES = MAX_PUBLISH_BYTES


@dataclass(frozen=True)
class Outcome:
    status: str  # "accepted" | "held" | "quarantined" | "duplicate"
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


def admit(
    headers: Mapping[str, str],
    *,
    shop_secrets: Mapping[str, str],
    content_length: int | None,
    max_body_bytes: int,
) -> str:
    """Before reading the body: the shop's secret, if the shop is known and the body's
    stated length is within ``max_body_bytes``. ``Unauthenticated`` for an unknown shop,
    ``BodyTooLarge`` for a missing length (chunked) or one over the limit."""
    shop = (header(headers, "Shop-Domain") or "").strip().lower()
    secret = shop_secrets.get(shop)
    if secret is None:
        raise Unauthenticated("no webhook secret for this shop")
    if content_length is None:
        raise BodyTooLarge("no Content-Length")
    if content_length > max_body_bytes:
        raise BodyTooLarge(f"Content-Length {content_length} is over {max_body_bytes}")
    return secret


def delivery_key(shop: str, topic: str, body: bytes) -> str:
    """The claim key of one delivery: the shop, and a hash of the topic and the body."""
    digest = hashlib.sha256(topic.encode("utf-8", "replace") + b"\0" + body).hexdigest()
    return f"shopify:{shop}:{digest}"


def _stub(raw: Raw, size: int) -> Raw:
    """``raw`` without its body: what is kept of a payload too large to publish."""
    stub: Raw = {k: v for k, v in raw.items() if k != "body"}  # type: ignore[assignment]
    stub["meta"] = {**raw.get("meta", {}), "encoding": "omitted", "bytes": str(size)}
    return stub


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


def receive(
    *,
    headers: Mapping[str, str],
    body: bytes,
    shop_secrets: Mapping[str, str],
    once: PublishOnce,
    now: Callable[[], datetime],
    own_app_ids: frozenset[str] = frozenset(),
    max_event_bytes: int = MAX_EVENT_BYTES,
    hold: Callable[[Event], Event] | None = None,
) -> Outcome:
    """Authenticate, normalise, claim and publish one delivery. ``hold`` marks an event
    whose inbound switch is off (``orderhub.inbound``; its settings read is cached
    by the caller): it is still claimed and published, and kept, never dropped."""
    shop = (header(headers, "Shop-Domain") or "").strip().lower()
    secret = shop_secrets.get(shop)
    if secret is None or not verify(secret, body, header(headers, "Hmac-Sha256")):
        raise Unauthenticated("missing or wrong HMAC for this shop")

    received_at = now()
    topic = (header(headers, "Topic") or "").strip()
    key = delivery_key(shop, topic, body)
    # Shopify always sends a webhook id; if a proxy drops it, the key stands in.
    webhook_id = header(headers, "Webhook-Id") or key.rpartition(":")[2]
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
        if hold is not None:
            event = hold(event)
            if "hold" in event:
                status, reason = "held", str(event["hold"].get("reason"))
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
    # Cheap bound first: the body travels in the event (escaped at most 6-fold) beside
    # what was read from it; only a body near the limit is encoded to be measured.
    if len(body) * 8 + 65536 > max_event_bytes and len(encode(event)) > max_event_bytes:
        reason = f"body of {len(body)} bytes is too large to publish; kept as its sha256"
        event = quarantine_event(
            source=shopify.SOURCE,
            shop=shop,
            raw=_stub(raw, len(body)),
            reason=reason,
            ref=webhook_id,
            topic=topic,
            at=received_at,
        )
        status = "quarantined"

    first = once(
        event,
        key=key,
        record={"event_id": event["event_id"], "topic": topic, "webhook_id": webhook_id},
        at=received_at,
    )
    if not first:
        return Outcome("duplicate", event["event_id"])
    return Outcome(status, event["event_id"], reason)
