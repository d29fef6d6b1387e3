"""HTTP adapter for the Cloud Scheduler jobs of the Gmail mailbox.

``POST /`` (daily): renew ``users.watch`` (Gmail drops a watch after 7 days)
and record its expiry, then run a catch-up sync. ``POST /?mode=catchup`` (e.g. hourly):
the catch-up sync only, because Gmail says notifications can be delayed or dropped.
The mailbox is ``GMAIL_MAILBOX``. HTTP functions are not retried: a failure answers 503
and the next scheduled run tries again.
"""

from __future__ import annotations

from typing import Any

from orderhub import logs
from orderhub.errors import ConfigError, TransientError
from orderhub.gmail_ingest import sync as gmail
from orderhub.gmail_ingest import wiring


def handle(request: Any) -> tuple[dict[str, Any], int]:
    if request.method not in ("POST", "GET"):
        return {"error": "POST only"}, 405
    settings = wiring.settings()
    if not settings.mailbox:
        raise ConfigError("environment variable GMAIL_MAILBOX is required but not set")
    mode = request.args.get("mode", "renew")
    if mode not in ("renew", "catchup"):
        return {"error": "mode must be renew or catchup"}, 400
    answer: dict[str, Any] = {"mode": mode}
    try:
        if mode == "renew":
            checkpoints, _attempts, _bus = wiring.stores()
            expiration = gmail.renew_watch(
                mailbox=settings.mailbox,
                topic=settings.push_topic,
                gmail=gmail.GmailApi(wiring.gmail_service),
                checkpoints=checkpoints,
                now=wiring.now(),
            )
            answer["watch_expiration"] = expiration.isoformat()
            logs.info("gmail watch renewed", expiration=answer["watch_expiration"])
        result = wiring.run_sync(settings.mailbox, None)
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
