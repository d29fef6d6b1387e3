"""The core of ``notifier``: one canonical event → one message per manager, exactly once.

For each manager: claim ``(event_id, subscriber_id)`` in the ledger, send through
ManyChat, record the outcome on the claim, append a row to the BigQuery
``notifications`` table (every attempt: ``sent``, ``failed`` or ``retrying``).

Faults by kind:

* ManyChat cannot take it now (429, 5xx, timeout): the claim becomes ``retrying``, a
  ``retrying`` row is written, the other managers are still served, and then
  ``TransientError`` is raised so Pub/Sub redelivers with backoff. The redelivery skips
  managers already ``sent``/``failed`` and sends only what is missing.
* ManyChat refuses it for good (HTTP 400 ``status: error``, e.g. code 3011, outside the
  24-hour window without a message tag): ``failed`` with the code, logged as an error,
  never retried.
* A claim tried ``max_attempts`` times without an answer is closed as ``failed``, so a
  message that ManyChat keeps refusing with 5xx is not retried forever even where no
  dead-letter policy stops the redeliveries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from orderhub import logs
from orderhub.errors import TransientError
from orderhub.event import Event, stable_id
from orderhub.ledger import Begin, Ledger
from orderhub.managers import Manager
from orderhub.sinks.bigquery import Inserter, build_row
from orderhub.sinks.manychat import Outcome, SendFailed
from orderhub.templates import NOTIFIED_TYPES, Links, render, to_manychat

NOTIFICATIONS_TABLE = "notifications"


class Sender(Protocol):
    def send_content(
        self, subscriber_id: str, messages: list[dict[str, Any]], message_tag: str | None
    ) -> Outcome: ...


@dataclass(frozen=True)
class Policy:
    message_tag: str | None = None
    #: A ``sending`` claim older than this belongs to a sender that died; retake it.
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 8
    links: Links = field(default_factory=Links)


@dataclass
class Summary:
    """What happened to each manager, by subscriber id."""

    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)


def notification_key(event_id: str, subscriber_id: str) -> str:
    return f"{event_id}:{subscriber_id}"


def claim_id(event: Event) -> str:
    """What one message per manager is claimed for: the event, except for chat contacts,
    whose every touch is an event but whose managers hear of them once: on the first."""
    if event["event_type"] == "contact.touched":
        return stable_id("contact.new", event["source"], event["shop"], event["entity_id"])
    return event["event_id"]


def _row(
    event: Event,
    manager: Manager,
    *,
    status: str,
    attempt: int,
    at: datetime,
    message_tag: str | None,
    http_status: int | None = None,
    code: int | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "notification_id": notification_key(claim_id(event), manager.subscriber_id),
        "event_id": event["event_id"],
        "event_type": event["event_type"],
        "source": event["source"],
        "shop": event["shop"],
        "entity_id": event["entity_id"],
        "order_id": event["entity_id"] if event["entity_type"] == "order" else None,
        "manager_id": manager.subscriber_id,
        "manager_name": manager.name,
        "status": status,
        "attempt": attempt,
        "http_status": http_status,
        "manychat_code": code,
        "error": error,
        "message_tag": message_tag,
        "attempted_at": at,
    }


def _append(inserter: Inserter, row: dict[str, Any]) -> None:
    schema = inserter.schema(NOTIFICATIONS_TABLE)
    row_id = f"{row['notification_id']}:{row['attempt']}:{row['status']}"
    inserter.insert(NOTIFICATIONS_TABLE, [build_row(schema, row)], [row_id])


def notifies(event: Event) -> bool:
    """New orders, cancellations and alerts do; history replayed by a backfill does not."""
    return event["event_type"] in NOTIFIED_TYPES and event.get("origin") != "backfill"


def notify(
    event: Event,
    *,
    managers: Sequence[Manager],
    ledger: Ledger,
    sender: Sender,
    inserter: Inserter,
    policy: Policy,
    now: Callable[[], datetime],
) -> Summary | None:
    """Tell every manager about the event; ``None`` if its type does not notify.

    Raises ``TransientError`` when any manager is still owed a message, after serving
    all the others.
    """
    if not notifies(event):
        return None
    rendered = render(event, policy.links)
    if rendered is None:
        return None
    if not managers:
        raise TransientError("no managers configured (settings/managers or NOTIFY_MANAGERS)")
    messages = to_manychat(rendered)
    managers = [m for m in managers if m.wants(event["event_type"])]
    summary = Summary()
    for manager in managers:
        _notify_one(event, manager, messages, ledger, sender, inserter, policy, now, summary)
    owed = summary.retrying + summary.busy
    if owed:
        raise TransientError(
            f"{len(owed)} of {len(managers)} managers not notified yet for {event['event_id']}"
        )
    return summary


def _notify_one(
    event: Event,
    manager: Manager,
    messages: list[dict[str, Any]],
    ledger: Ledger,
    sender: Sender,
    inserter: Inserter,
    policy: Policy,
    now: Callable[[], datetime],
    summary: Summary,
) -> None:
    key = notification_key(claim_id(event), manager.subscriber_id)
    ids = {"event_id": event["event_id"], "manager_id": manager.subscriber_id}
    claim: Begin = ledger.begin(
        key,
        {**ids, "event_type": event["event_type"], "entity_id": event["entity_id"]},
        now=now(),
        lease=policy.lease,
    )
    if claim.kind == "busy":
        summary.busy.append(manager.subscriber_id)
        return
    if claim.kind == "done":
        record = claim.record
        if not record.get("logged"):  # the outcome is known but its row never landed
            _append(
                inserter,
                _row(
                    event,
                    manager,
                    status=str(record["state"]),
                    attempt=claim.attempt,
                    at=record.get("finished_at") or now(),
                    message_tag=policy.message_tag,
                    http_status=record.get("http_status"),
                    code=record.get("manychat_code"),
                    error=record.get("error"),
                ),
            )
            ledger.mark_logged(key)
        summary.duplicate.append(manager.subscriber_id)
        return

    def close(status: str, http_status: int | None, code: int | None, error: str | None) -> None:
        at = now()
        stored = {"http_status": http_status, "manychat_code": code, "error": error}
        ledger.finish(key, status, stored, now=at)
        row = _row(
            event,
            manager,
            status=status,
            attempt=claim.attempt,
            at=at,
            message_tag=policy.message_tag,
            http_status=http_status,
            code=code,
            error=error,
        )
        _append(inserter, row)
        if status in ("sent", "failed"):
            ledger.mark_logged(key)

    if claim.attempt > policy.max_attempts:
        error = f"gave up after {policy.max_attempts} attempts"
        close("failed", http_status=None, code=None, error=error)
        logs.error("notification given up", **ids, attempts=policy.max_attempts)
        summary.failed.append(manager.subscriber_id)
        return
    try:
        outcome = sender.send_content(manager.subscriber_id, messages, policy.message_tag)
    except SendFailed as exc:
        close("retrying", http_status=exc.http_status, code=None, error=exc.reason)
        logs.warning(
            "notification will be retried",
            **ids,
            attempt=claim.attempt,
            http_status=exc.http_status,
            reason=exc.reason,
        )
        summary.retrying.append(manager.subscriber_id)
        return
    if outcome.sent:
        close("sent", http_status=outcome.http_status, code=None, error=None)
        logs.info("notification sent", **ids, attempt=claim.attempt)
        summary.sent.append(manager.subscriber_id)
        return
    close("failed", http_status=outcome.http_status, code=outcome.code, error=outcome.reason)
    logs.error(
        "notification failed for good",
        **ids,
        manychat_code=outcome.code,
        http_status=outcome.http_status,
        reason=outcome.reason,
    )
    summary.failed.append(manager.subscriber_id)
