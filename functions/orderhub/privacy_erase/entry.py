"""HTTP adapter for the scheduled privacy job (Cloud Scheduler POSTs with an OIDC token).

Carries out every open ``customers/redact`` and ``shop/redact`` request and answers a JSON
summary of request ids (never a customer's data). A request with something not yet
erasable (rows still in BigQuery's streaming buffer) is answered under ``pending`` and
done on a later run; BigQuery or Firestore away answers 503 so the scheduler retries.
"""

from __future__ import annotations

from typing import Any

from orderhub import logs
from orderhub.errors import ConfigError, TransientError
from orderhub.privacy_erase import erasure, wiring


def handle(request: Any) -> tuple[dict[str, Any], int]:
    if request.method != "POST":
        return {"error": "POST only"}, 405
    try:
        outcomes = erasure.run(
            warehouse=wiring.warehouse(),
            documents=wiring.documents(),
            now=wiring.now,
            key=wiring.digest_key(),
        )
    except ConfigError as exc:
        logs.error("privacy job misconfigured", error=str(exc))
        return {"error": str(exc)}, 500
    except TransientError as exc:
        logs.error("privacy job interrupted; the next run resumes", error=str(exc))
        return {"error": str(exc)}, 503
    result = erasure.summary(outcomes)
    for pending in result["pending"]:
        logs.warning("privacy request not fully erased yet; retried next run", **pending)
    logs.info("privacy job ran", done=len(result["done"]), pending=len(result["pending"]))
    return result, 200
