"""The real collaborators of ``shopify_reconcile``, built on first use and kept for the
instance: each shop's Admin API client, the cursors, the CRM's known versions and the bus
that holds what a shop's inbound switch holds."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import Any

from orderhub import gcp
from orderhub.bus import PubSubBus
from orderhub.config import settings_cache_seconds
from orderhub.inbound import HoldingBus
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.installations import CONNECTED, Installations, installed_tokens
from orderhub.shopify.tokens import TokenSource
from orderhub.shopify.versions import warn_if_ending
from orderhub.shopify_reconcile.settings import ReconcileSettings
from orderhub.sinks.bigquery import BigQueryExisting, BigQueryVersions
from orderhub.stores import FirestoreCursors
from orderhub.switches import CachedSwitches, FirestoreSwitches


@functools.cache
def settings() -> ReconcileSettings:
    return ReconcileSettings.from_env()


@functools.cache
def cursors() -> FirestoreCursors:
    s = settings()
    return FirestoreCursors(gcp.firestore_client(s.project), f"{s.firestore_prefix}sync_cursors")


@functools.cache
def versions() -> BigQueryVersions:
    s = settings()
    return BigQueryVersions(gcp.bigquery_client(s.project, s.bigquery_endpoint), s.dataset)


@functools.cache
def existing() -> BigQueryExisting:
    return BigQueryExisting(versions().client, settings().dataset)


@functools.cache
def bus() -> HoldingBus:
    s = settings()
    switches = FirestoreSwitches(
        gcp.firestore_client(s.project, s.app_database), f"{s.firestore_prefix}sync_settings"
    )
    cached = CachedSwitches(switches.get, ttl_s=settings_cache_seconds(), clock=time.monotonic)
    return HoldingBus(PubSubBus(gcp.publisher(), gcp.topic_path(s.project, s.topic)), cached)


@functools.cache
def installations() -> Installations:
    """Shops of other merchants, connected through the CRM app's install flow."""
    s = settings()
    return Installations(gcp.firestore_client(s.project, s.app_database), s.firestore_prefix)


def shops() -> list[str]:
    """The shops a run goes through: the configured ones and the connected installations;
    a disconnected installation (``app/uninstalled``) is left out."""
    status = {row["shop"]: row["status"] for row in installations().status()}
    configured = [shop for shop in settings().shops if status.get(shop, CONNECTED) == CONNECTED]
    return configured + sorted(
        shop for shop, state in status.items() if state == CONNECTED and shop not in configured
    )


@functools.cache
def admin(shop: str) -> ShopifyAdmin:
    """The Admin API client of one shop (its own token, URL and session): an installed
    shop's expiring offline token, else the app's client credentials or a legacy token."""
    import requests

    s = settings()
    session = requests.Session()
    configured = s.shops.get(shop)
    url = configured.url if configured else f"https://{shop}"
    tokens: TokenSource | None = installed_tokens(
        installations(), shop, url, s.admin.client_id, s.admin.client_secret, session
    )
    if tokens is None:
        tokens = s.shops[shop].token_source(session)
    return ShopifyAdmin(
        base_url=url,
        tokens=tokens,
        api_version=s.admin.api_version,
        session=session,
        timeout=30.0,
    )


def now() -> datetime:
    return datetime.now(UTC)


def collaborators(shop: str) -> dict[str, Any]:
    """The real collaborators of ``run.reconcile_shop`` for one shop. Each run warns when
    the pinned Admin API version is within 90 days of leaving support."""
    warn_if_ending(settings().admin.api_version, now(), shop)
    return {
        "graphql": admin(shop).response,
        "cursors": cursors(),
        "versions": versions(),
        "existing": existing(),
        "bus": bus(),
        "now": now,
        "sleep": time.sleep,
        "own_app_ids": settings().own_app_ids,
    }
