"""CloudEvent adapter: one canonical event from ``order-events`` → managers in Messenger."""

from __future__ import annotations

from orderhub import logs
from orderhub.notifier import wiring
from orderhub.notifier.notify import notifies, notify
from orderhub.pubsub import event_or_quarantine


def handle(cloud_event: object) -> None:
    # Not an event: crm_writer quarantines it; the managers are told of the same event once.
    event, pubsub_id, poison = event_or_quarantine(cloud_event, received_at=wiring.now())
    if poison:
        logs.warning("notifier: a message is not an event", reason=poison)
    if not notifies(event):
        return  # e.g. order.updated or a backfill: nothing to tell, not even a settings read
    summary = notify(
        event,
        managers=wiring.whom_to_tell(),
        ledger=wiring.ledger(),
        sender=wiring.sender(),
        inserter=wiring.inserter(),
        policy=wiring.policy(),
        now=wiring.now,
        fallback=wiring.fallback(),
        push=wiring.push(),
    )
    if summary is not None:
        logs.info(
            "event notified",
            event_id=event["event_id"],
            event_type=event["event_type"],
            message_id=pubsub_id,
            sent=len(summary.sent),
            failed=len(summary.failed),
            duplicate=len(summary.duplicate),
            emailed=len(summary.emailed),
            pushed=len(summary.pushed),
        )
