"""HTTP adapter for Shopify webhooks."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from orderhub import gcp, logs
from orderhub.bus import BatchedPublishOnce, PubSubBatchPublisher
from orderhub.config import settings_cache_seconds
from orderhub.errors import BodyTooLarge, TransientError, Unauthenticated
from orderhub.event import Event
from orderhub.inbound import hold, switch_of
from orderhub.shopify_webhook.receive import admit, header, receive
from orderhub.shopify_webhook.settings import WebhookSettings
from orderhub.stores import FirestoreClaims
from orderhub.switches import CachedSwitches, FirestoreSwitches

#: Shopify retries for 4 hours; keep claims well beyond that, then let the TTL policy go.
CLAIM_TTL = timedelta(days=3)

#: Shopify waits 5 s for an answer; claim and publish must be done (or given up) by then.
ACCEPT_DEADLINE_S = 4.0
#: The most a (rare: once per shop per SYNC_SETTINGS_CACHE_SECONDS) read of a shop's inbound
#: switches may take; then 503. Long enough for the client to reconnect after an outage
#: (gRPC backs off about a second); a slow read plus a slow claim past Shopify's 5 s makes
#: Shopify retry, which the claim answers "duplicate": nothing is lost.
SETTINGS_READ_TIMEOUT_S = 2.0


@functools.cache
def _wiring() -> tuple[WebhookSettings, BatchedPublishOnce]:
    settings = WebhookSettings.from_env()
    claims = FirestoreClaims(
        gcp.firestore_client(settings.project),
        f"{settings.firestore_prefix}webhook_claims",
        CLAIM_TTL,
    )
    topic = gcp.topic_path(settings.project, settings.topic)
    bus = PubSubBatchPublisher(gcp.batch_publisher(), topic)
    return settings, BatchedPublishOnce(claims, bus, deadline_s=ACCEPT_DEADLINE_S)


@functools.cache
def _switches() -> CachedSwitches:
    """The shops' inbound switches, read at most once per shop every
    ``SYNC_SETTINGS_CACHE_SECONDS`` (30) by this instance: a change is seen that late."""
    settings = WebhookSettings.from_env()
    store = FirestoreSwitches(  # within Shopify's 5 s, before the claim's own deadline
        gcp.firestore_client(settings.project),
        f"{settings.firestore_prefix}sync_settings",
        timeout=SETTINGS_READ_TIMEOUT_S,
    )
    return CachedSwitches(store.get, ttl_s=settings_cache_seconds(), clock=time.monotonic)


def _hold(event: Event) -> Event:
    if switch_of(event) is None:  # no read for what no switch may stop
        return event
    return hold(event, _switches()(event["shop"]))


def _now() -> datetime:
    return datetime.now(UTC)


def handle(request: Any) -> tuple[str, int]:
    if request.method != "POST":
        return "POST only\n", 405
    settings, once = _wiring()
    topic = header(request.headers, "Topic")
    webhook_id = header(request.headers, "Webhook-Id")
    try:  # before a byte of the body is read
        admit(
            request.headers,
            shop_secrets=settings.shop_secrets,
            content_length=request.content_length,
            max_body_bytes=settings.max_body_bytes,
        )
    except Unauthenticated:
        logs.warning("webhook rejected: unknown shop", topic=topic)
        return "unauthorized\n", 401
    except BodyTooLarge as exc:
        logs.warning(
            "webhook refused: body too large or of unknown length",
            topic=topic,
            webhook_id=webhook_id,
            error=str(exc),
        )
        return "payload too large\n", 413
    body = request.get_data(cache=False)
    try:
        outcome = receive(
            headers=request.headers,
            body=body,
            shop_secrets=settings.shop_secrets,
            once=once,
            now=_now,
            own_app_ids=settings.own_app_ids,
            hold=_hold,
        )
    except Unauthenticated:
        logs.warning("webhook rejected: bad signature", topic=topic, bytes=len(body))
        return "unauthorized\n", 401
    except TransientError as exc:
        logs.error("webhook not accepted, Shopify will retry", topic=topic, error=str(exc))
        return "temporarily unavailable\n", 503
    logs.info(
        f"webhook {outcome.status}",
        topic=topic,
        webhook_id=webhook_id,
        event_id=outcome.event_id,
        reason=outcome.reason,
    )
    return f"{outcome.status}\n", 200
