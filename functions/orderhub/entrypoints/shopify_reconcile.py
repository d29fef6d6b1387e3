"""HTTP adapter for the scheduled reconciliation (Cloud Scheduler POSTs with an OIDC token).

Runs orders, customers and products in turn, then the id check that finds deletes whose
webhooks were missed (``orderhub.sync.deletes``), and answers a JSON summary. A transient fault
(Shopify, BigQuery, Pub/Sub, Firestore away) answers 503 and Cloud Scheduler retries; the
cursors of the resources not finished have not moved, so nothing is skipped.
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
from orderhub.errors import ConfigError, TransientError
from orderhub.settings import ReconcileSettings
from orderhub.shopify_admin import ShopifyAdmin
from orderhub.sinks.bigquery import BigQueryExisting, BigQueryVersions
from orderhub.stores import FirestoreCursors
from orderhub.sync.deletes import checked_resources, find_deleted
from orderhub.sync.reconcile import RESOURCES, reconcile


@functools.cache
def _wiring() -> tuple[ReconcileSettings, ShopifyAdmin, FirestoreCursors, BigQueryVersions, Any]:
    import requests

    settings = ReconcileSettings.from_env()
    admin = ShopifyAdmin(
        base_url=settings.admin.url,
        access_token=settings.admin.token,
        api_version=settings.admin.api_version,
        session=requests.Session(),
        timeout=30.0,
    )
    cursors = FirestoreCursors(
        gcp.firestore_client(settings.project), f"{settings.firestore_prefix}sync_cursors"
    )
    versions = BigQueryVersions(
        gcp.bigquery_client(settings.project, settings.bigquery_endpoint), settings.dataset
    )
    bus = PubSubBus(gcp.publisher(), gcp.topic_path(settings.project, settings.topic))
    return settings, admin, cursors, versions, bus


def handle(request: Any) -> tuple[dict[str, Any], int]:
    if request.method != "POST":
        return {"error": "POST only"}, 405
    settings, admin, cursors, versions, bus = _wiring()
    summaries: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    try:
        for resource in RESOURCES:
            summary = reconcile(
                shop=settings.admin.shop,
                resource=resource,
                graphql=admin.response,
                cursors=cursors,
                known_versions=versions,
                bus=bus,
                now=lambda: datetime.now(UTC),
                sleep=time.sleep,
            )
            summaries.append(asdict(summary))
            logs.info("reconciled", **asdict(summary))
        existing = BigQueryExisting(versions.client, settings.dataset)
        for resource in checked_resources():
            found = find_deleted(
                shop=settings.admin.shop,
                resource=resource,
                graphql=admin.response,
                existing_ids=existing,
                bus=bus,
                now=lambda: datetime.now(UTC),
                sleep=time.sleep,
            )
            deletes.append(asdict(found))
            logs.info("id check", **asdict(found))
    except ConfigError as exc:
        logs.error("reconciliation misconfigured", error=str(exc))
        return {"error": str(exc), "done": summaries}, 500
    except (TransientError, google_exceptions.GoogleAPICallError) as exc:
        logs.error("reconciliation interrupted; the next run resumes", error=str(exc))
        return {"error": str(exc), "done": summaries}, 503
    return {"reconciled": summaries, "deletes": deletes}, 200
