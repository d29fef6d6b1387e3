"""CloudEvent adapter for Gmail push notifications (see the package's docstring)."""

from __future__ import annotations

from typing import Any

from orderhub import logs
from orderhub.errors import PoisonMessage, TransientError
from orderhub.gmail_ingest import sync as gmail
from orderhub.gmail_ingest import wiring
from orderhub.gmail_ingest.push import notification, published_at
from orderhub.pubsub import message_data


def handle(cloud_event: Any) -> None:
    try:
        data, message_id = message_data(cloud_event)
        mailbox, history_id = notification(data)
    except PoisonMessage as poison:
        # Nothing to keep: the notification carries no mail, and the next one (or the
        # scheduled catch-up) syncs from the checkpoint anyway.
        logs.warning("gmail notification dropped", reason=poison.reason)
        return
    s = wiring.settings()
    if s.only_mailbox and mailbox != s.only_mailbox:
        logs.warning("gmail notification for a mailbox we do not read", message_id=message_id)
        return
    try:
        wiring.run_sync(mailbox, history_id, published_at(cloud_event))
    except gmail.MailboxBusy:
        logs.info("gmail mailbox busy with another run; Pub/Sub will redeliver")
        raise
    except TransientError as exc:
        logs.error("gmail sync failed; Pub/Sub will redeliver", error=str(exc))
        raise
