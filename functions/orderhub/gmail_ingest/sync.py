"""The core of ``gmail_ingest`` and ``gmail_watch_renew``: from "the mailbox changed" to
order events on the bus, each order at least once and announced once: the run itself
(``sync``, ``renew_watch``) and one message's work (``_Run``). No Flask, no CloudEvents
here. It speaks to Gmail through ``gmail_api.Gmail`` and keeps what lasts between runs
(checkpoint, lease, full sync, attempts, layout markers) in the ``stores`` protocols.

How a sync runs (``sync``); docs/gmail.md states the guarantees for users:

1. The mailbox's state is read from Firestore: the checkpoint (a ``historyId`` up to which
   every history record is processed), when the last sync that reached the end of the
   history started, and a full sync in progress, if any.
2. *History sync*: ``users.history.list`` from the checkpoint, ``historyTypes``
   ``messageAdded`` and ``labelAdded``, no label filter. A message added anywhere but
   Spam, Trash and Drafts is looked at (so mail a Gmail filter files away from INBOX is
   read), and so is a message that gains the INBOX label (mail moved out of Spam). The
   rules files decide what is an order.
3. *Full sync*, on a mailbox's first sync and when Gmail answers 404 (the checkpoint is
   older than the history Gmail keeps): the mailbox's current ``historyId`` is taken from
   ``users.getProfile`` first, then ``users.messages.list`` lists every message (Spam and
   Trash excepted) since the last good sync minus a margin (first sync: the last few
   days), every page, no count cap. The list is stored, and worked through oldest first
   over as many runs as it takes; then history sync resumes from that ``historyId``.
4. Each message: ``format=metadata`` first (From, Subject, labels, ``sizeEstimate``). No
   rule knows the sender and subject: one log line. Over the size limit: never fetched
   raw; a ``payload.quarantined`` event by reference (the Gmail id) alerts the managers.
   Otherwise ``format=raw``, MIME, the rules: ``order.created``, or ``payload.quarantined``
   with the reasons. Any unexpected exception on one message quarantines that message
   (reason and Gmail id) and the sync goes on. ``TransientError`` (Gmail, Pub/Sub,
   Firestore away) raises, so Pub/Sub redelivers.
5. No claim before the publish: an event is published each time its mail is processed.
   Its id is deterministic, and the consumers are idempotent by ``event_id`` (crm_writer's
   ``insertId`` and the views' newest-version pick; the notifier's per-manager ledger), so
   a repeat costs a duplicate message on the bus, never a lost or doubled order. What
   keeps repeats rare is recorded only *after* the publish: a per-message record
   (``Attempts``) marked published, which later runs skip.
6. The same record counts the runs that began reading a message; one that died (killed,
   out of memory) leaves its count; after ``max_attempts`` such runs the message is
   quarantined by reference and passed. A Pub/Sub outage does not count.
7. One run per mailbox: a lease in the checkpoint document. A notification that finds
   the mailbox busy is retried by Pub/Sub (``MailboxBusy``), unless the holder began
   after it was published.
8. The checkpoint moves after each page, to the last history record whose messages are
   all done, and at the end to the ``historyId`` the listing's first page reported; never
   to a message's own ``historyId``. A run stops after ``max_messages`` messages or
   ``max_seconds`` and reports ``more``; the entry points then publish a follow-up
   notification, so a long backlog drains over several runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orderhub import logs, mime
from orderhub.bus import Bus
from orderhub.errors import TransientError
from orderhub.event import Event, iso, quarantine_event, stable_id
from orderhub.gmail_ingest.gmail_api import Gmail, HistoryGone, MessageGone
from orderhub.gmail_ingest.stores import (
    Attempts,
    Checkpoints,
    FullSync,
    LayoutMarkers,
    MailboxState,
)
from orderhub.sources import email
from orderhub.sources.mail import (
    message_events,
    prematch,
    raw_record,
    received_at,
    reference_event,
)

INBOX = "INBOX"
#: Mail read more than this after it arrived was not read live (see ``_Run._mark_catch_up``).
LIVE_DELAY = timedelta(hours=1)
#: Mail under these labels is not read (``messages.list`` leaves out Spam and Trash too);
#: moved into INBOX later, it is (``labelAdded``).
SKIPPED_LABELS = frozenset({"SPAM", "TRASH", "DRAFT"})
#: How far the function's clock and Pub/Sub's publish times may disagree.
CLOCK_SKEW = timedelta(seconds=5)
#: ``messages.list`` page size during a full sync (Gmail's most).
LIST_PAGE_SIZE = 500


class MailboxBusy(TransientError):
    """Another run holds the mailbox's lease; Pub/Sub redelivers this notification later."""


@dataclass
class SyncResult:
    mode: str  # "history" | "full" | "up_to_date" | "in_progress" (another run has it)
    checkpoint: int | None = None
    seen: int = 0
    published: list[str] = field(default_factory=list)  # event ids of orders
    quarantined: list[str] = field(default_factory=list)  # Gmail message ids
    ignored: int = 0
    duplicates: int = 0  # published by an earlier run
    more: bool = False  # stopped at the per-run limit; another run continues


@dataclass(frozen=True)
class SyncLimits:
    page_size: int = 100
    full_sync_days: int = 3  # a first sync reads this far back
    full_sync_margin: timedelta = timedelta(hours=24)
    max_messages: int = 500  # per run
    max_seconds: float = 60.0  # per run; the function's timeout is longer
    lease: timedelta = timedelta(minutes=3)  # a run's hold on the mailbox
    max_message_bytes: int = 5_000_000
    max_attempts: int = 3


def _unexpected(exc: BaseException) -> str:
    return f"could not be processed: {exc.__class__.__name__}: {str(exc)[:200]}"


@dataclass
class _Run:
    """One run's message work: the per-message guard, the size check, attempt counting."""

    mailbox: str
    gmail: Gmail
    attempts: Attempts
    bus: Bus
    rules: Sequence[email.Rules]
    now: Callable[[], datetime]
    limits: SyncLimits
    result: SyncResult
    started: datetime
    handled: set[str] = field(default_factory=set)
    layouts: LayoutMarkers | None = None

    @property
    def exhausted(self) -> bool:
        if len(self.handled) >= self.limits.max_messages:
            return True
        return (self.now() - self.started).total_seconds() >= self.limits.max_seconds

    def message(self, message_id: str) -> None:
        if message_id in self.handled:
            return
        self.handled.add(message_id)
        self.result.seen += 1
        try:
            metadata = self.gmail.get_metadata(self.mailbox, message_id)
        except MessageGone:
            return
        key = f"{self.mailbox}:{message_id}"
        source = "email:unknown"
        counted = False
        try:
            labels = set(metadata.get("labelIds") or [])
            if labels & SKIPPED_LABELS:
                self.result.ignored += 1
                logs.info("gmail message skipped: in spam, trash or drafts", ref=message_id)
                return
            found = prematch(self.rules, metadata)
            if found is None:
                self.result.ignored += 1
                logs.info(
                    "gmail message ignored: no rules match its sender and subject", ref=message_id
                )
                return
            source = found.source
            tries = self.attempts.begin(key, now=self.now())
            if tries is None:
                self.result.duplicates += 1
                logs.info("gmail message already published", ref=message_id)
                return
            counted = True
            size = int(metadata.get("sizeEstimate") or 0)
            if size > self.limits.max_message_bytes:
                self._set_aside(
                    metadata,
                    source,
                    key,
                    f"mail of {size} bytes is over the {self.limits.max_message_bytes}-byte "
                    "limit; not read, kept in Gmail",
                )
            elif tries > self.limits.max_attempts:
                self._set_aside(
                    metadata,
                    source,
                    key,
                    f"reading this mail failed {tries - 1} times (the run died or timed out); "
                    "set aside, kept in Gmail",
                )
            else:
                self._read(metadata, source, key)
                return
        except TransientError:
            raise
        except Exception as exc:  # noqa: BLE001 - one message never stops the mailbox
            logs.error(
                "gmail message failed unexpectedly; quarantined",
                ref=message_id,
                error=exc.__class__.__name__,
            )
            self._set_aside(metadata, source, key, _unexpected(exc))
        if counted:
            self.attempts.done(key, now=self.now())

    def _read(self, metadata: dict[str, Any], source: str, key: str) -> None:
        message_id = str(metadata["id"])
        try:
            message = self.gmail.get_raw(self.mailbox, message_id)
        except MessageGone:
            self.attempts.release(key)
            return
        found: list[tuple[str, Event | None, str | None]]
        try:
            found = message_events(
                mailbox=self.mailbox, message=message, rules=self.rules, now=self.now()
            )
        except TransientError:
            raise
        except Exception as exc:  # noqa: BLE001 - a parse bug or an absurd value: this mail only
            logs.error(
                "gmail message failed unexpectedly; quarantined",
                ref=message_id,
                error=exc.__class__.__name__,
            )
            problem = _unexpected(exc)
            found = [("quarantined", self._whole(message, source, problem), problem)]
        self._layout(found, source)
        for outcome, event, why in found:
            if event is None:
                self.result.ignored += 1
                logs.info(
                    "gmail message ignored: no rules match its sender and subject", ref=message_id
                )
                continue
            if outcome == "order":
                self._mark_catch_up(event, message)
            self._publish(event, key, metadata, source)
            self._count(outcome, event, message_id, why)
        self.attempts.done(key, now=self.now())

    def _layout(self, found: list[tuple[str, Event | None, str | None]], source: str) -> None:
        """A quarantine saying the service's layout changed is announced once per change
        (``announce_once``, read by the notifier); a mail read completely ends the change."""
        if self.layouts is None or not source.startswith("email:"):
            return
        service = source.split(":", 1)[1]
        outcomes = {outcome for outcome, _, _ in found}
        if outcomes == {"order"}:
            self.layouts.read_fine(self.mailbox, service, now=self.now())
            return
        for outcome, event, _ in found:
            why = event["entity"].get("layout_changed") if event is not None else None
            if outcome == "quarantined" and event is not None and why:
                epoch = self.layouts.changed(self.mailbox, service, now=self.now(), why=why)
                event["entity"]["announce_once"] = f"layout:{service}:{epoch}"

    def _mark_catch_up(self, event: Event, message: dict[str, Any]) -> None:
        """An order from mail that arrived well before this run (a full sync, or history
        read after an outage) was not delivered live: ``origin`` ``catch-up`` and the run's
        start as ``found_at``, so the notifier records an old order rather than announcing
        it as new (``notifier.too_old``). Mail read as it arrives is announced as ever."""
        arrived = received_at(message, self.started)
        if self.started - arrived > LIVE_DELAY:
            event["origin"] = "catch-up"
            event["found_at"] = iso(self.started)

    def _whole(self, message: dict[str, Any], source: str, reason: str) -> Event:
        body = mime.b64url_decode(str(message.get("raw") or ""))
        at = received_at(message, self.now())
        service = source.split(":", 1)[-1]
        raw = raw_record(self.mailbox, message, body, service, at)
        return quarantine_event(
            source=source,
            shop=self.mailbox,
            raw=raw,
            reason=reason,
            ref=str(message["id"]),
            topic=None,
            at=at,
        )

    def _publish(self, event: Event, key: str, metadata: dict[str, Any], source: str) -> None:
        try:
            self._send(event, key)
        except TransientError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. too large to publish: it never will be
            logs.error(
                "gmail event could not be published; quarantined by reference",
                ref=str(metadata["id"]),
                error=exc.__class__.__name__,
            )
            self._send(
                reference_event(
                    mailbox=self.mailbox,
                    metadata=metadata,
                    source=source,
                    reason=f"its event could not be published: {exc.__class__.__name__}",
                    now=self.now(),
                ),
                key,
            )

    def _count(self, outcome: str, event: Event, message_id: str, reason: str | None) -> None:
        if outcome == "order":
            self.result.published.append(event["event_id"])
            logs.info(
                "gmail order published",
                ref=message_id,
                source=event["source"],
                event_id=event["event_id"],
            )
        else:
            self.result.quarantined.append(message_id)
            logs.warning(
                "gmail order mail quarantined",
                ref=message_id,
                source=event["source"],
                reason=reason or event["entity"].get("reason"),
            )

    def _send(self, event: Event, key: str) -> None:
        try:
            self.bus.publish(event)
        except TransientError:
            try:  # Pub/Sub being away is not this mail's fault: do not count the attempt
                self.attempts.release(key)
            except TransientError:
                pass
            raise

    def _set_aside(self, metadata: dict[str, Any], source: str, key: str, reason: str) -> None:
        message_id = str(metadata["id"])
        self._send(
            reference_event(
                mailbox=self.mailbox,
                metadata=metadata,
                source=source,
                reason=reason,
                now=self.now(),
            ),
            key,
        )
        self.result.quarantined.append(message_id)
        logs.warning("gmail mail set aside", ref=message_id, source=source, reason=reason)


def record_ids(record: dict[str, Any]) -> Iterator[str]:
    """The messages of one history record to look at: added anywhere but Spam, Trash and
    Drafts, or given the INBOX label (moved out of Spam, or back from the archive)."""
    for added in record.get("messagesAdded") or []:
        message = added.get("message") or {}
        if message.get("id") and not SKIPPED_LABELS & set(message.get("labelIds") or []):
            yield str(message["id"])
    for change in record.get("labelsAdded") or []:
        message = change.get("message") or {}
        if message.get("id") and INBOX in (change.get("labelIds") or []):
            yield str(message["id"])


def _history(run: _Run, checkpoints: Checkpoints, start: int, started: datetime) -> None:
    """History sync from ``start``; the checkpoint follows the records done (module doc)."""
    token: str | None = None
    done = start
    reported: int | None = None  # the mailbox's historyId as the listing began
    while True:
        page = run.gmail.history(
            run.mailbox, start=start, page_token=token, page_size=run.limits.page_size
        )
        if reported is None:
            reported = int(page.get("historyId") or 0)
        for record in page.get("history") or []:
            if run.exhausted:
                run.result.more = True
                run.result.checkpoint = checkpoints.advance(run.mailbox, done, now=run.now())
                return
            for message_id in record_ids(record):
                run.message(message_id)
            done = max(done, int(record["id"]))
        token = page.get("nextPageToken")
        if not token:
            # Records up to the historyId of the first page are all listed by now, whether
            # Gmail's pages are a snapshot or live; later ones were listed (``done``) or
            # are read next time.
            final = max(done, reported or 0)
            run.result.checkpoint = checkpoints.advance(
                run.mailbox, final, now=run.now(), synced_at=started
            )
            return
        run.result.checkpoint = checkpoints.advance(run.mailbox, done, now=run.now())


def _list_since(gmail: Gmail, mailbox: str, since: datetime) -> list[str]:
    """Every message since ``since`` (Spam and Trash excepted), oldest first, no cap."""
    ids: list[str] = []
    token: str | None = None
    query = f"after:{int(since.timestamp())}"
    while True:
        page = gmail.list_messages(mailbox, query=query, page_token=token, page_size=LIST_PAGE_SIZE)
        ids += [str(m["id"]) for m in page.get("messages") or [] if m.get("id")]
        token = page.get("nextPageToken")
        if not token:
            break
    ids.reverse()  # messages.list is newest first; process in arrival order
    return list(dict.fromkeys(ids))


def _start_full(
    run: _Run, checkpoints: Checkpoints, since: datetime, started: datetime
) -> FullSync:
    history_id = int(run.gmail.profile(run.mailbox)["historyId"])  # before the listing
    ids = _list_since(run.gmail, run.mailbox, since)
    logs.info("gmail full sync started", since=iso(since), messages=len(ids))
    full = FullSync(
        token=stable_id(run.mailbox, iso(started), history_id)[:16],
        history_id=history_id,
        started_at=started,
        ids=tuple(ids),
    )
    return checkpoints.begin_full(run.mailbox, full, now=run.now())


def _full(run: _Run, checkpoints: Checkpoints, full: FullSync) -> bool:
    """Work through a stored full sync; True once it is finished."""
    done = full.done
    while done < len(full.ids) and not run.exhausted:
        room = run.limits.max_messages - len(run.handled)
        chunk = full.ids[done : done + min(run.limits.page_size, room)]
        for message_id in chunk:
            run.message(message_id)
        done += len(chunk)
        checkpoints.full_progress(run.mailbox, full, done, now=run.now())
    if done < len(full.ids):
        run.result.more = True
        return False
    run.result.checkpoint = checkpoints.finish_full(run.mailbox, full, now=run.now())
    logs.info("gmail full sync finished", messages=len(full.ids))
    return True


def sync(
    *,
    mailbox: str,
    notified_history_id: int | None,
    gmail: Gmail,
    checkpoints: Checkpoints,
    attempts: Attempts,
    bus: Bus,
    rules: Sequence[email.Rules],
    now: Callable[[], datetime],
    limits: SyncLimits = SyncLimits(),
    notified_at: datetime | None = None,
    layouts: LayoutMarkers | None = None,
) -> SyncResult:
    """Bring the mailbox's new order mail onto the bus (see the module doc).

    ``layouts``: where a service's layout change is marked, so that it is announced once
    per service (None: every such quarantine is announced).

    One run at a time per mailbox (a lease in the checkpoint document). A notification
    that finds the mailbox busy raises ``MailboxBusy`` so that Pub/Sub redelivers it,
    unless the run holding the mailbox began after the notification was published
    (``notified_at``): that run reads the change it announces, or hands over to a next.
    """
    mailbox = mailbox.lower()
    started = now()
    state = checkpoints.load(mailbox)
    if _up_to_date(state, notified_history_id):
        return SyncResult("up_to_date", checkpoint=state.history_id)
    owner = uuid.uuid4().hex
    if not checkpoints.lock(mailbox, owner, now=started, lease=limits.lease):
        holder = checkpoints.load(mailbox).locked_since
        if notified_at is not None and holder is not None and holder > notified_at + CLOCK_SKEW:
            logs.info("gmail mailbox busy with a run that began after this notification")
            return SyncResult("in_progress")
        raise MailboxBusy("another sync of this mailbox is running; retry later")
    try:
        state = checkpoints.load(mailbox)  # as the previous run left it
        if _up_to_date(state, notified_history_id):
            return SyncResult("up_to_date", checkpoint=state.history_id)
        return _sync(
            mailbox, state, gmail, checkpoints, attempts, bus, rules, now, limits, started, layouts
        )
    finally:
        try:
            checkpoints.unlock(mailbox, owner)
        except TransientError:
            pass  # the lease runs out by itself


def _up_to_date(state: MailboxState, notified: int | None) -> bool:
    return (
        state.full is None
        and state.history_id is not None
        and notified is not None
        and notified <= state.history_id
    )


def _sync(
    mailbox: str,
    state: MailboxState,
    gmail: Gmail,
    checkpoints: Checkpoints,
    attempts: Attempts,
    bus: Bus,
    rules: Sequence[email.Rules],
    now: Callable[[], datetime],
    limits: SyncLimits,
    started: datetime,
    layouts: LayoutMarkers | None = None,
) -> SyncResult:
    result = SyncResult("history")
    run = _Run(mailbox, gmail, attempts, bus, rules, now, limits, result, started, layouts=layouts)
    full, checkpoint, synced_at = state.full, state.history_id, state.synced_at
    for _ in range(3):  # history; or a full sync, then history from where it began
        if full is None and checkpoint is not None:
            try:
                _history(run, checkpoints, checkpoint, started)
                return result
            except HistoryGone:
                since = synced_at or started - timedelta(days=limits.full_sync_days)
                logs.warning("gmail history too old, running a full sync", checkpoint=checkpoint)
                full = _start_full(run, checkpoints, since - limits.full_sync_margin, started)
        elif full is None:
            since = started - timedelta(days=limits.full_sync_days)
            full = _start_full(run, checkpoints, since, started)
        result.mode = "full"
        if not _full(run, checkpoints, full) or run.exhausted:
            return result
        # mail that came during the full sync: history from where the full sync began
        checkpoint, synced_at, full = result.checkpoint, full.started_at, None
    result.more = True  # Gmail keeps forgetting history under us: let the next run go on
    return result


def renew_watch(
    *, mailbox: str, topic: str, gmail: Gmail, checkpoints: Checkpoints, now: datetime
) -> datetime:
    """Start or renew ``users.watch`` (every label); record and return when it expires."""
    answer = gmail.watch(mailbox, topic=topic)
    expiration = datetime.fromtimestamp(int(answer["expiration"]) / 1000, tz=UTC)
    checkpoints.record_watch(
        mailbox.lower(), history_id=int(answer["historyId"]), expiration=expiration, now=now
    )
    return expiration
