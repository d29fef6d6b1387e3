"""HTTP adapter of ``gmail_watch_renew``, the mailbox's scheduled jobs (see the package)."""

from __future__ import annotations

from typing import Any

from orderhub import logs
from orderhub.errors import ConfigError, TransientError
from orderhub.gmail_ingest import wiring


def handle(request: Any) -> tuple[dict[str, Any], int]:
    if request.method not in ("POST", "GET"):
        return {"error": "POST only"}, 405
    mailbox = wiring.settings().mailbox
    if not mailbox:
        raise ConfigError("environment variable GMAIL_MAILBOX is required but not set")
    mode = request.args.get("mode", "renew")
    if mode not in ("renew", "catchup"):
        return {"error": "mode must be renew or catchup"}, 400
    answer: dict[str, Any] = {"mode": mode}
    try:
        if mode == "renew":
            answer["watch_expiration"] = wiring.renew_watch(mailbox).isoformat()
            logs.info("gmail watch renewed", expiration=answer["watch_expiration"])
        result = wiring.run_sync(mailbox, None)
    except TransientError as exc:
        logs.error("gmail scheduled run failed; the next run retries", error=str(exc))
        return {"error": "temporarily unavailable"}, 503
    answer.update(
        sync=result.mode,
        checkpoint=result.checkpoint,
        published=len(result.published),
        quarantined=len(result.quarantined),
        more=result.more,
    )
    return answer, 200
