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

Messenger's 24-hour window. Manager alerts carry no message tag by default (Meta allows
tags only for updates personally relevant to the recipient; misuse can restrict the
shop's Page). A manager whose window has closed makes ManyChat answer 3011; if that
manager has an ``email`` and a ``Fallback`` is wired (the shop's Gmail), the same text
goes by e-mail and the claim closes as ``emailed``, so no new order goes unannounced.

Announcements, not events. "New order" and "cancelled" are facts about an *order*, and
the same order reaches us as several events: the webhook's ``order.created`` and a
reconcile run's ``order.created`` at a later version, a late webhook, every later update
of a cancelled order. Those announcements are claimed per ``(source, shop, order, kind)``
(``ANNOUNCED_ONCE``), so each manager hears of a new order once and of its cancellation
once, whichever event comes first. Other kinds (alerts) are claimed per event. A new
kind that should be said once per entity is one line in ``ANNOUNCED_ONCE``.

Old news found by a sync is recorded, not announced: an event that a sync found rather
than a live delivery (``origin`` ``reconcile`` or ``catch-up``) for an order created (or
cancelled) more than ``Policy.max_age`` (24 hours by default, ``NOTIFY_MAX_AGE_HOURS``)
before the sync found it is not messaged. So the first reconcile run, which reaches back
7 days, or a catch-up after an outage, does not flood the managers with old orders as
if they were new, while a missed order of the last hours is still announced. Live
deliveries (webhooks, pushed mail, the form) are always news; a backfill never is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from orderhub import logs
from orderhub.errors import TransientError
from orderhub.event import Event, parse_time, stable_id
from orderhub.ledger import FINAL_STATES, Begin, Ledger
from orderhub.managers import Manager
from orderhub.notifier.templates import NOTIFIED_TYPES, Links, Rendered, render, to_manychat
from orderhub.sinks.bigquery import Inserter, build_row
from orderhub.sinks.manychat import Outcome, SendFailed

NOTIFICATIONS_TABLE = "notifications"


class Sender(Protocol):
    def send_content(
        self, subscriber_id: str, messages: list[dict[str, Any]], message_tag: str | None
    ) -> Outcome: ...


#: ManyChat codes meaning "outside Messenger's 24-hour window": the e-mail fallback's cue.
WINDOW_CLOSED_CODES = (3011,)


class FallbackFailed(Exception):
    """The fallback channel refused the message for good (e.g. a bad address)."""


class Fallback(Protocol):
    """A second channel for a manager Messenger will not reach now (e-mail).

    ``send`` raises ``TransientError`` when a retry may help, ``FallbackFailed`` when not."""

    def send(self, manager: Manager, *, subject: str, text: str) -> None: ...


class Pusher(Protocol):
    """Web Push to the phones a manager subscribed in the CRM app (``web_push.WebPush``):
    how many took it; ``TransientError`` when a retry may help."""

    def send(self, manager: Manager, *, title: str, text: str, url: str | None) -> int: ...


def as_email(rendered: Rendered) -> tuple[str, str]:
    """Subject and plain text of a rendered message, its buttons as links at the end."""
    subject = rendered.text.split("\n", 1)[0]
    links = [f"{button.caption}: {button.url}" for button in rendered.buttons]
    text = rendered.text + ("\n\n" + "\n".join(links) if links else "")
    footer = "\n\n(Sent by e-mail: your Messenger window with the shop's bot has closed. "
    footer += "Write to the bot to get alerts in Messenger again.)"
    return subject, text + footer


@dataclass(frozen=True)
class Policy:
    message_tag: str | None = None
    #: A ``sending`` claim older than this belongs to a sender that died; retake it.
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 8
    links: Links = field(default_factory=Links)
    #: Orders created (cancellations made) longer ago than this are recorded, not announced.
    max_age: timedelta | None = timedelta(hours=24)


@dataclass
class Summary:
    """What happened to each manager, by subscriber id."""

    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    emailed: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)


#: Event type → (announcement kind, the entity's field that dates the fact). These are
#: said once per entity (source, shop, entity id, kind), not once per event.
ANNOUNCED_ONCE: dict[str, tuple[str, str]] = {
    "order.created": ("new", "created_at"),
    "order.cancelled": ("cancelled", "cancelled_at"),
    # A chat contact touches the bot many times; the managers hear of it once, on the first.
    "contact.touched": ("new", "subscribed_at"),
}


def announcement_id(event: Event) -> str:
    """What a manager is told once: the order's "new"/"cancelled", a quarantine's
    ``announce_once`` (a service's layout change), else the event itself."""
    once = ANNOUNCED_ONCE.get(event["event_type"])
    if once is None:
        # An alert said once for many events (the layout of a mail service changed: every
        # mail of the service is quarantined until the rules are fixed): gmail_ingest names
        # the announcement in ``announce_once``.
        key = (event.get("entity") or {}).get("announce_once")
        if event["event_type"] == "payload.quarantined" and isinstance(key, str) and key:
            return stable_id("announcement", event["source"], event["shop"], "alert", key)
        return event["event_id"]
    kind, _ = once
    return stable_id(
        "announcement",
        event["source"],
        event["shop"],
        event["entity_type"],
        event["entity_id"],
        kind,
    )


def fact_time(event: Event) -> datetime | None:
    """When the announced fact happened (order created, order cancelled), if the event says."""
    once = ANNOUNCED_ONCE.get(event["event_type"])
    if once is None:
        return None
    _, field_name = once
    value = event["entity"].get(field_name)
    try:
        return parse_time(str(value)) if value else None
    except ValueError:
        return None


#: ``origin`` of events a sync found (not delivered live): judged by their age.
SYNCED_ORIGINS = ("reconcile", "catch-up")


def too_old(event: Event, *, now: datetime, max_age: timedelta | None) -> bool:
    """True for an order (or cancellation) that a sync found more than ``max_age`` after
    it happened: history, not news. Live deliveries are never too old."""
    if max_age is None or event.get("origin") not in SYNCED_ORIGINS:
        return False
    happened = fact_time(event)
    raw = event.get("raw")
    when = event.get("found_at") or (raw.get("received_at") if raw else None)
    try:
        found = parse_time(str(when)) if when else now
    except ValueError:
        found = now
    return happened is not None and found - happened > max_age


def notification_key(event_id: str, subscriber_id: str) -> str:
    """The claim of one announcement (``announcement_id``) for one manager."""
    return f"{event_id}:{subscriber_id}"


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
        "notification_id": notification_key(announcement_id(event), manager.subscriber_id),
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
    return (
        event["event_type"] in NOTIFIED_TYPES
        and event.get("origin") != "backfill"
        # held: its shop switched Shopify's orders off (orderhub.inbound); not in the CRM
        and (event.get("hold") or {}).get("state") != "held"
    )


def notify(
    event: Event,
    *,
    managers: Sequence[Manager],
    ledger: Ledger,
    sender: Sender,
    inserter: Inserter,
    policy: Policy,
    now: Callable[[], datetime],
    fallback: Fallback | None = None,
    push: Pusher | None = None,
) -> Summary | None:
    """Tell every manager about the event; ``None`` if its type does not notify.

    Raises ``TransientError`` when any manager is still owed a message, after serving
    all the others.
    """
    if not notifies(event):
        return None
    if too_old(event, now=now(), max_age=policy.max_age):
        logs.info(
            "old news: recorded, not announced",
            event_id=event["event_id"],
            event_type=event["event_type"],
            entity_id=event["entity_id"],
        )
        return None
    rendered = render(event, policy.links)
    if rendered is None:
        return None
    if not managers:
        raise TransientError("no managers configured (settings/managers or NOTIFY_MANAGERS)")
    messages = to_manychat(rendered)
    managers = [m for m in managers if m.wants(event["event_type"])]
    summary = Summary()
    email = as_email(rendered)
    alert = (email[0], rendered.text, rendered.buttons[0].url if rendered.buttons else None)
    for manager in managers:
        _notify_one(
            event,
            manager,
            messages,
            ledger,
            sender,
            inserter,
            policy,
            now,
            summary,
            fallback=fallback,
            email=email,
            push=push,
            alert=alert,
        )
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
    *,
    fallback: Fallback | None = None,
    email: tuple[str, str] = ("", ""),
    push: Pusher | None = None,
    alert: tuple[str, str, str | None] = ("", "", None),
) -> None:
    key = notification_key(announcement_id(event), manager.subscriber_id)
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
        if status in FINAL_STATES:
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
    if outcome.code in WINDOW_CLOSED_CODES and push is not None:
        title, text, url = alert
        try:
            phones = push.send(manager, title=title, text=text, url=url)
        except TransientError as exc:
            close("retrying", http_status=outcome.http_status, code=outcome.code, error=str(exc))
            logs.warning("web push will be retried", **ids, reason=str(exc))
            summary.retrying.append(manager.subscriber_id)
            return
        if phones:
            note = f"Messenger window closed; sent by Web Push to {phones} device(s)"
            close("pushed", http_status=outcome.http_status, code=outcome.code, error=note)
            logs.info("notification sent by web push", **ids, attempt=claim.attempt)
            summary.pushed.append(manager.subscriber_id)
            return
    if outcome.code in WINDOW_CLOSED_CODES and fallback is not None and manager.email:
        subject, text = email
        try:
            fallback.send(manager, subject=subject, text=text)
        except TransientError as exc:
            close("retrying", http_status=outcome.http_status, code=outcome.code, error=str(exc))
            logs.warning("e-mail fallback will be retried", **ids, reason=str(exc))
            summary.retrying.append(manager.subscriber_id)
            return
        except FallbackFailed as exc:
            outcome = Outcome(
                sent=False,
                http_status=outcome.http_status,
                code=outcome.code,
                reason=f"{outcome.reason}; e-mail refused: {exc}",
            )
        else:
            note = "Messenger window closed; sent by e-mail"
            close("emailed", http_status=outcome.http_status, code=outcome.code, error=note)
            logs.info("notification sent by e-mail", **ids, attempt=claim.attempt)
            summary.emailed.append(manager.subscriber_id)
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
