"""The real collaborators of ``shopify_webhook``, built on first use and kept for the
life of the instance (``functools.cache``): Firestore claims and Pub/Sub, batched by
group commit, and the shops' inbound sync switches."""

from __future__ import annotations

import functools
import gc
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from orderhub import gcp
from orderhub.bus import BatchedPublishOnce, PubSubBatchPublisher
from orderhub.config import settings_cache_seconds
from orderhub.event import Event
from orderhub.inbound import hold as hold_event
from orderhub.inbound import switch_of
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
def settings() -> WebhookSettings:
    return WebhookSettings.from_env()


@functools.cache
def once() -> BatchedPublishOnce:
    """Claim-once plus publish, shared by the requests this instance serves at a time."""
    s = settings()
    claims = FirestoreClaims(
        gcp.firestore_client(s.project), f"{s.firestore_prefix}webhook_claims", CLAIM_TTL
    )
    bus = PubSubBatchPublisher(gcp.batch_publisher(), gcp.topic_path(s.project, s.topic))
    return BatchedPublishOnce(claims, bus, deadline_s=ACCEPT_DEADLINE_S)


@functools.cache
def switches() -> CachedSwitches:
    """The shops' inbound switches, read at most once per shop every
    ``SYNC_SETTINGS_CACHE_SECONDS`` (30) by this instance: a change is seen that late."""
    s = settings()
    store = FirestoreSwitches(  # within Shopify's 5 s, before the claim's own deadline
        gcp.firestore_client(s.project, s.app_database),
        f"{s.firestore_prefix}sync_settings",
        timeout=SETTINGS_READ_TIMEOUT_S,
    )
    return CachedSwitches(store.get, ttl_s=settings_cache_seconds(), clock=time.monotonic)


def hold(event: Event) -> Event:
    """The event, held if its shop's inbound switch for it is off."""
    if switch_of(event) is None:  # no read for what no switch may stop
        return event
    return hold_event(event, switches()(event["shop"]))


def now() -> datetime:
    return datetime.now(UTC)


def collaborators() -> dict[str, Any]:
    """What ``receive`` takes besides the request: secrets, claim-once, clock, our app ids,
    and the inbound switches' hold."""
    s = settings()
    built = {
        "shop_secrets": s.shop_secrets,
        "once": once(),
        "now": now,
        "own_app_ids": s.own_app_ids,
        "hold": hold,
    }
    settle()
    return built


#: Whether this instance has settled (``settle``): a flag, not a ``functools.cache``, so
#: that the tests' ``clear_caches`` does not make every test collect again.
_SETTLED: list[bool] = []


def settle() -> None:
    """Once the instance is set up (its imports and clients), its objects are moved out of
    the cycle collector's sight (``gc.freeze``), after one last collection.

    Otherwise each full collection walks every object of the imported libraries (some
    80,000) and holds the GIL for it: 20 to 45 ms each on the bench's machine,
    while every request in flight waits. Frozen, a full collection walks only what was
    made since: 0.4 to 1.5 ms. The one collection here runs once per instance, on its
    first request (two first requests at once may both run it: no harm)."""
    if _SETTLED:
        return
    _SETTLED.append(True)
    gc.collect()
    gc.freeze()
