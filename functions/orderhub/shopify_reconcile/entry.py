"""HTTP adapter for the scheduled reconciliation (Cloud Scheduler POSTs with an OIDC token).

Runs orders, customers and products in turn, then the id check that finds deletes whose
webhooks were missed (``orderhub.shopify_reconcile.deletes``), and answers a JSON summary. A transient fault
(Shopify, BigQuery, Pub/Sub, Firestore away) answers 503 and Cloud Scheduler retries; the
cursors of the resources not finished have not moved, so nothing is skipped.

Several shops: ``?shop=x.myshopify.com`` (or ``{"shop": ...}`` in a JSON body) reconciles
that shop with its own Admin token and URL (``SHOPIFY_ADMIN_TOKENS`` / ``SHOPIFY_ADMIN_URLS``,
as the sync); without one (the scheduled run) every configured shop is reconciled in turn.
Each shop has its own cursors. A shop without a token is 400. What a shop's inbound switch
holds is published held (``orderhub.inbound``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as google_exceptions

from orderhub import gcp, logs
from orderhub.bus import PubSubBus
from orderhub.config import settings_cache_seconds
from orderhub.errors import ConfigError, TransientError
from orderhub.inbound import HoldingBus
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify_reconcile.deletes import checked_resources, find_deleted
from orderhub.shopify_reconcile.reconcile import RESOURCES, reconcile
from orderhub.shopify_reconcile.settings import ReconcileSettings
from orderhub.sinks.bigquery import BigQueryExisting, BigQueryVersions
from orderhub.stores import FirestoreCursors
from orderhub.switches import CachedSwitches, FirestoreSwitches


@functools.cache
def _wiring() -> tuple[ReconcileSettings, FirestoreCursors, BigQueryVersions, HoldingBus]:
    settings = ReconcileSettings.from_env()
    firestore = gcp.firestore_client(settings.project)
    cursors = FirestoreCursors(firestore, f"{settings.firestore_prefix}sync_cursors")
    versions = BigQueryVersions(
        gcp.bigquery_client(settings.project, settings.bigquery_endpoint), settings.dataset
    )
    bus = PubSubBus(gcp.publisher(), gcp.topic_path(settings.project, settings.topic))
    switches = FirestoreSwitches(firestore, f"{settings.firestore_prefix}sync_settings")
    cached = CachedSwitches(switches.get, ttl_s=settings_cache_seconds(), clock=time.monotonic)
    return settings, cursors, versions, HoldingBus(bus, cached)


@functools.cache
def _admin(shop: str) -> ShopifyAdmin:
    """The Admin API client of one shop (its own token, URL and session)."""
    import requests

    settings = _wiring()[0].shops[shop]
    return ShopifyAdmin(
        base_url=settings.url,
        access_token=settings.token,
        api_version=settings.api_version,
        session=requests.Session(),
        timeout=30.0,
    )


def _requested_shop(request: Any) -> str:
    shop = request.args.get("shop") or ""
    if not shop and request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            shop = str(body.get("shop") or "")
    return shop.strip().lower()


def _reconcile_shop(
    shop: str,
    settings: ReconcileSettings,
    cursors: FirestoreCursors,
    versions: BigQueryVersions,
    bus: HoldingBus,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    admin = _admin(shop)
    summaries: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    for resource in RESOURCES:
        summary = reconcile(
            shop=shop,
            resource=resource,
            graphql=admin.response,
            cursors=cursors,
            known_versions=versions,
            bus=bus,
            now=lambda: datetime.now(UTC),
            sleep=time.sleep,
        )
        summaries.append({"shop": shop, **asdict(summary)})
        logs.info("reconciled", shop=shop, **asdict(summary))
    existing = BigQueryExisting(versions.client, settings.dataset)
    for resource in checked_resources():
        found = find_deleted(
            shop=shop,
            resource=resource,
            graphql=admin.response,
            existing_ids=existing,
            bus=bus,
            now=lambda: datetime.now(UTC),
            sleep=time.sleep,
        )
        deletes.append({"shop": shop, **asdict(found)})
        logs.info("id check", shop=shop, **asdict(found))
    return summaries, deletes


def handle(request: Any) -> tuple[dict[str, Any], int]:
    if request.method != "POST":
        return {"error": "POST only"}, 405
    try:
        settings, cursors, versions, bus = _wiring()
    except ConfigError as exc:
        logs.error("reconciliation misconfigured", error=str(exc))
        return {"error": str(exc)}, 500
    asked = _requested_shop(request)
    if asked and asked not in settings.shops:
        error = f"no Admin API token for shop {asked}: add it to SHOPIFY_ADMIN_TOKENS"
        return {"error": error}, 400
    shops = [asked] if asked else list(settings.shops)
    summaries: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    try:
        for shop in shops:
            done, gone = _reconcile_shop(shop, settings, cursors, versions, bus)
            summaries += done
            deletes += gone
    except ConfigError as exc:
        logs.error("reconciliation misconfigured", error=str(exc))
        return {"error": str(exc), "done": summaries}, 500
    except (TransientError, google_exceptions.GoogleAPICallError) as exc:
        logs.error("reconciliation interrupted; the next run resumes", error=str(exc))
        return {"error": str(exc), "done": summaries}, 503
    return {"shops": shops, "reconciled": summaries, "deletes": deletes}, 200
