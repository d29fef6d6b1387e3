"""HTTP adapter for the scheduled reconciliation (Cloud Scheduler POSTs with an OIDC token).

Runs orders, customers and products in turn, then the id check that finds deletes whose
webhooks were missed (``deletes``), and answers a JSON summary. A transient fault
(Shopify, BigQuery, Pub/Sub, Firestore away) answers 503 and Cloud Scheduler retries; the
cursors of the resources not finished have not moved, so nothing is skipped.

Several shops: ``?shop=x.myshopify.com`` (or ``{"shop": ...}`` in a JSON body) reconciles
that shop with its own Admin token and URL (``SHOPIFY_ADMIN_TOKENS`` / ``SHOPIFY_ADMIN_URLS``,
as the sync); without one (the scheduled run) every configured shop is reconciled in turn.
Each shop has its own cursors. A shop without a token is 400. What a shop's inbound switch
holds is published held (``orderhub.inbound``).
"""

from __future__ import annotations

import time
from typing import Any

from google.api_core import exceptions as google_exceptions

from orderhub import logs
from orderhub.errors import ConfigError, TransientError
from orderhub.shopify_reconcile import wiring
from orderhub.shopify_reconcile.run import reconcile_shop


def handle(request: Any) -> tuple[dict[str, Any], int]:
    if request.method != "POST":
        return {"error": "POST only"}, 405
    body = request.get_json(silent=True) if request.is_json else None
    asked = str(request.args.get("shop") or (body or {}).get("shop") or "").strip().lower()
    summaries: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    try:
        shops = wiring.settings().shops
        if asked and asked not in shops:
            error = f"no Admin API token for shop {asked}: add it to SHOPIFY_ADMIN_TOKENS"
            return {"error": error}, 400
        for shop in [asked] if asked else list(shops):
            done, gone = reconcile_shop(
                shop=shop,
                graphql=wiring.admin(shop).response,
                cursors=wiring.cursors(),
                versions=wiring.versions(),
                existing=wiring.existing(),
                bus=wiring.bus(),
                now=wiring.now,
                sleep=time.sleep,
            )
            summaries, deletes = summaries + done, deletes + gone
    except ConfigError as exc:
        logs.error("reconciliation misconfigured", error=str(exc))
        return {"error": str(exc), "done": summaries}, 500
    except (TransientError, google_exceptions.GoogleAPICallError) as exc:
        logs.error("reconciliation interrupted; the next run resumes", error=str(exc))
        return {"error": str(exc), "done": summaries}, 503
    shops_done = [asked] if asked else list(wiring.settings().shops)
    return {"shops": shops_done, "reconciled": summaries, "deletes": deletes}, 200
