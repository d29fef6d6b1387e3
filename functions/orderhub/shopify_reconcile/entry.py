"""HTTP adapter of the scheduled reconciliation (see the package's docstring)."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as google_exceptions

from orderhub import logs
from orderhub.errors import ConfigError, TransientError
from orderhub.shopify_reconcile import wiring
from orderhub.shopify_reconcile.run import Progress, reconcile_shop


def handle(request: Any) -> tuple[dict[str, Any], int]:
    if request.method != "POST":
        return {"error": "POST only"}, 405
    body = request.get_json(silent=True) if request.is_json else None
    asked = str(request.args.get("shop") or (body or {}).get("shop") or "").strip().lower()
    done = Progress()
    try:
        known = wiring.shops()
        shops = [asked] if asked else known
        if asked and asked not in known:
            error = f"no connected Shopify shop {asked} (SHOPIFY_ADMIN_TOKENS, /settings/shops)"
            return {"error": error}, 400
        for shop in shops:
            reconcile_shop(shop=shop, into=done, **wiring.collaborators(shop))
    except ConfigError as exc:
        logs.error("reconciliation misconfigured", error=str(exc))
        return {"error": str(exc), "done": done.reconciled}, 500
    except (TransientError, google_exceptions.GoogleAPICallError) as exc:
        logs.error("reconciliation interrupted; the next run resumes", error=str(exc))
        return {"error": str(exc), "done": done.reconciled}, 503
    return {"shops": shops, "reconciled": done.reconciled, "deletes": done.deletes}, 200
