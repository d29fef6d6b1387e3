"""The core of ``gmail_ingest`` and ``gmail_watch_renew``: from "the mailbox changed" to
order events on the bus, each order at least once and announced once. No Flask, no
CloudEvents here.

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

import functools
import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from orderhub import logs, mime
from orderhub.bus import Bus
from orderhub.errors import TransientError
from orderhub.event import Event, iso, quarantine_event, stable_id
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
HISTORY_TYPES = ("messageAdded", "labelAdded")
METADATA_HEADERS = ("From", "Subject")
#: How far the function's clock and Pub/Sub's publish times may disagree.
CLOCK_SKEW = timedelta(seconds=5)
#: ``messages.list`` page size during a full sync (Gmail's most).
LIST_PAGE_SIZE = 500


class HistoryGone(Exception):
    """``history.list`` answered 404: the start id is too old; a full sync is needed."""


class MessageGone(Exception):
    """The message was deleted between the history listing and the fetch."""


class Gmail(Protocol):
    """The Gmail API calls OrderHub makes (``GmailApi`` is the real one)."""

    def profile(self, user: str) -> dict[str, Any]: ...

    def history(
        self, user: str, *, start: int, page_token: str | None, page_size: int
    ) -> dict[str, Any]: ...

    def list_messages(
        self, user: str, *, query: str, page_token: str | None, page_size: int
    ) -> dict[str, Any]: ...

    def get_metadata(self, user: str, message_id: str) -> dict[str, Any]: ...

    def get_raw(self, user: str, message_id: str) -> dict[str, Any]: ...

    def watch(self, user: str, *, topic: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FullSync:
    """A full sync in progress: the messages listed, oldest first, and how many are done."""

    token: str  # which full sync this is (two runs may race to start one)
    history_id: int  # where history sync resumes once every listed message is done
    started_at: datetime  # when the listing began: the next "last good sync" time
    ids: tuple[str, ...]
    done: int = 0


@dataclass(frozen=True)
class MailboxState:
    history_id: int | None = None
    synced_at: datetime | None = None  # start of the last run that reached the end
    full: FullSync | None = None
    locked_since: datetime | None = None  # when the run holding the mailbox took it


class Checkpoints(Protocol):
    def load(self, mailbox: str) -> MailboxState: ...

    def advance(
        self, mailbox: str, history_id: int, *, now: datetime, synced_at: datetime | None = None
    ) -> int:
        """Move the checkpoint forward (never back); set ``synced_at`` if given."""
        ...

    def begin_full(self, mailbox: str, full: FullSync, *, now: datetime) -> FullSync:
        """Store ``full`` unless a full sync is already in progress; the one in force."""
        ...

    def full_progress(self, mailbox: str, full: FullSync, done: int, *, now: datetime) -> None: ...

    def finish_full(self, mailbox: str, full: FullSync, *, now: datetime) -> int:
        """End ``full``: checkpoint to its ``history_id`` (never back), ``synced_at`` to its
        start; returns the checkpoint."""
        ...

    def lock(self, mailbox: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
        """Take the mailbox for one run unless another run holds an unexpired lease."""
        ...

    def unlock(self, mailbox: str, owner: str) -> None: ...

    def record_watch(
        self, mailbox: str, *, history_id: int, expiration: datetime, now: datetime
    ) -> None: ...


class Attempts(Protocol):
    """Per message: the runs that began reading it and did not finish, and whether its
    events were published (only ever recorded *after* the publish, so it never hides a
    mail that was not published)."""

    def begin(self, key: str, *, now: datetime) -> int | None:
        """Count one more attempt; the count including this one, or None if the
        message's events were published already."""
        ...

    def done(self, key: str, *, now: datetime) -> None:
        """Its events are published: later runs skip it."""
        ...

    def release(self, key: str) -> None:
        """Take back this run's attempt: the fault was not the mail's (Pub/Sub away)."""
        ...


class LayoutMarkers(Protocol):
    """Per (mailbox, service): whether the service's mail layout is known to have changed,
    so that the managers are told once per service, not once per quarantined mail."""

    def changed(self, mailbox: str, service: str, *, now: datetime, why: str) -> int:
        """Mark the layout changed; the number of this change (the same until a mail of
        the service reads completely again, then one more)."""
        ...

    def read_fine(self, mailbox: str, service: str, *, now: datetime) -> None:
        """A mail of the service was read completely: the next change is a new one."""
        ...


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


# --------------------------------------------------------------------- the real Gmail
class GmailApi:
    """``Gmail`` over google-api-python-client; HTTP faults become our errors.

    ``service_factory`` builds a fresh ``googleapiclient`` resource: its httplib2
    transport is not thread-safe, so one is made per sync rather than shared.
    """

    def __init__(self, service_factory: Callable[[], Any]) -> None:
        self._factory = service_factory
        self._service: Any = None
        self._messages_resource: Any = None

    def _users(self) -> Any:
        # Each ``users()`` builds its resource's methods from the discovery document
        # (~10 ms); build it once per client.
        if self._service is None:
            self._service = self._factory().users()
        return self._service

    def _messages(self) -> Any:
        if self._messages_resource is None:
            self._messages_resource = self._users().messages()
        return self._messages_resource

    @staticmethod
    def _run(request: Any, what: str) -> dict[str, Any]:
        import httplib2
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError

        try:
            return dict(request.execute(num_retries=2))
        except RefreshError as exc:
            # An expired or revoked refresh token (7 days while the OAuth app is in
            # "Testing"): retries keep the mail waiting until someone re-authorises.
            raise TransientError(
                "Gmail credentials refused by Google; re-run scripts/gmail_authorize "
                "and update GMAIL_REFRESH_TOKEN"
            ) from exc
        except HttpError as exc:
            status = int(exc.resp.status)
            if status == 404 and what == "history":
                raise HistoryGone(str(exc)) from exc
            if status == 404 and what == "message":
                raise MessageGone(str(exc)) from exc
            hint = " (re-run scripts/gmail_authorize?)" if status in (401, 403) else ""
            raise TransientError(f"Gmail {what} failed with HTTP {status}{hint}") from exc
        except (OSError, httplib2.HttpLib2Error, TransportError) as exc:
            # TransportError: the token endpoint unreachable while refreshing
            raise TransientError(f"Gmail unreachable during {what}: {exc}") from exc

    def profile(self, user: str) -> dict[str, Any]:
        return self._run(self._users().getProfile(userId=user), "profile")

    def history(
        self, user: str, *, start: int, page_token: str | None, page_size: int
    ) -> dict[str, Any]:
        request = (
            self._users()
            .history()
            .list(
                userId=user,
                startHistoryId=str(start),
                historyTypes=list(HISTORY_TYPES),
                maxResults=page_size,
                pageToken=page_token,
            )
        )
        return self._run(request, "history")

    def list_messages(
        self, user: str, *, query: str, page_token: str | None, page_size: int
    ) -> dict[str, Any]:
        request = self._messages().list(
            userId=user, q=query, maxResults=page_size, pageToken=page_token
        )
        return self._run(request, "messages.list")

    def get_metadata(self, user: str, message_id: str) -> dict[str, Any]:
        request = self._messages().get(
            userId=user,
            id=message_id,
            format="metadata",
            metadataHeaders=list(METADATA_HEADERS),
        )
        return self._run(request, "message")

    def get_raw(self, user: str, message_id: str) -> dict[str, Any]:
        request = self._messages().get(userId=user, id=message_id, format="raw")
        return self._run(request, "message")

    def watch(self, user: str, *, topic: str) -> dict[str, Any]:
        # No label filter: mail a Gmail filter files away from INBOX notifies too.
        body = {"topicName": topic}
        return self._run(self._users().watch(userId=user, body=body), "watch")


# ----------------------------------------------------------------------- checkpoints
#: Message ids per Firestore document of a stored full-sync list (~20 bytes each).
FULL_SYNC_PART = 5000


def _firestore_call(what: str, call: Callable[[], Any]) -> Any:
    from google.api_core import exceptions

    try:
        return call()
    except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
        raise TransientError(f"Firestore {what} failed: {exc.__class__.__name__}") from exc


class FirestoreCheckpoints:
    """One document per mailbox: ``history_id`` (only ever grows), ``synced_at``, the
    watch's expiry, and ``full_sync`` while one runs; its message ids sit in the
    sub-collection ``full_sync`` (parts of ``FULL_SYNC_PART``), so no list is too long."""

    def __init__(self, client: Any, collection: str, status: Any = None) -> None:
        self._client = client
        self._collection = client.collection(collection)
        #: Where the CRM app's health page reads the mailbox's sync and watch times
        #: (``gmail_status`` in the app's database): a copy of those fields, no checkpoint.
        self._status = status

    def _ref(self, mailbox: str) -> Any:
        return self._collection.document(mailbox.lower().replace("/", "_"))

    def _tell_status(self, mailbox: str, fields: dict[str, Any]) -> None:
        if self._status is None:
            return
        ref = self._status.document(mailbox.lower().replace("/", "_"))
        _firestore_call("status", lambda: ref.set(fields, merge=True, timeout=5.0))

    def _parts(self, mailbox: str) -> Any:
        return self._ref(mailbox).collection("full_sync")

    def load(self, mailbox: str) -> MailboxState:
        snapshot = _firestore_call("read", lambda: self._ref(mailbox).get(timeout=5.0))
        data = (snapshot.to_dict() or {}) if snapshot.exists else {}
        value = data.get("history_id")
        lock = data.get("lock")
        return MailboxState(
            history_id=int(value) if value is not None else None,
            synced_at=data.get("synced_at"),
            full=self._full(mailbox, data.get("full_sync")),
            locked_since=lock.get("since") if isinstance(lock, dict) else None,
        )

    def _full(self, mailbox: str, stored: Any) -> FullSync | None:
        if not isinstance(stored, dict):
            return None
        token = str(stored["token"])
        ids: list[str] = []
        for n in range(int(stored["parts"])):
            doc = self._parts(mailbox).document(f"{token}-{n}")
            part = _firestore_call("read", functools.partial(doc.get, timeout=5.0))
            ids += list((part.to_dict() or {}).get("ids") or [])
        return FullSync(
            token=token,
            history_id=int(stored["history_id"]),
            started_at=stored["started_at"],
            ids=tuple(ids),
            done=int(stored.get("done") or 0),
        )

    def advance(
        self, mailbox: str, history_id: int, *, now: datetime, synced_at: datetime | None = None
    ) -> int:
        """Set the checkpoint to ``history_id`` unless it is already further; returns it."""
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def move(transaction: Any) -> int:
            snapshot = ref.get(transaction=transaction)
            current = (snapshot.to_dict() or {}).get("history_id") if snapshot.exists else None
            changes: dict[str, Any] = {"advanced_at": now}
            if synced_at is not None:
                changes["synced_at"] = synced_at
            if current is None or int(current) < history_id:
                changes["history_id"] = history_id
            transaction.set(ref, changes, merge=True)
            return int(changes.get("history_id") or current or 0)

        moved = int(_firestore_call("checkpoint", lambda: move(self._client.transaction())))
        told: dict[str, Any] = {"advanced_at": now}
        if synced_at is not None:
            told["synced_at"] = synced_at
        self._tell_status(mailbox, told)
        return moved

    def begin_full(self, mailbox: str, full: FullSync, *, now: datetime) -> FullSync:
        from google.cloud import firestore

        ids = list(full.ids)
        chunks = [ids[i : i + FULL_SYNC_PART] for i in range(0, len(ids), FULL_SYNC_PART)]
        for n, chunk in enumerate(chunks):
            doc = self._parts(mailbox).document(f"{full.token}-{n}")
            _firestore_call("write", functools.partial(doc.set, {"ids": chunk}, timeout=10.0))
        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def start(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if isinstance((snapshot.to_dict() or {}).get("full_sync"), dict):
                return False
            record = {
                "token": full.token,
                "history_id": full.history_id,
                "started_at": full.started_at,
                "parts": len(chunks),
                "count": len(ids),
                "done": full.done,
                "updated_at": now,
            }
            transaction.set(ref, {"full_sync": record}, merge=True)
            return True

        if _firestore_call("checkpoint", lambda: start(self._client.transaction())):
            return full
        self._drop_parts(mailbox, full.token, len(chunks))  # another run started one first
        state = self.load(mailbox)
        assert state.full is not None
        return state.full

    def full_progress(self, mailbox: str, full: FullSync, done: int, *, now: datetime) -> None:
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def move(transaction: Any) -> None:
            stored = ((ref.get(transaction=transaction).to_dict()) or {}).get("full_sync")
            if isinstance(stored, dict) and stored.get("token") == full.token:
                if int(stored.get("done") or 0) < done:
                    transaction.update(ref, {"full_sync.done": done, "full_sync.updated_at": now})

        _firestore_call("checkpoint", lambda: move(self._client.transaction()))

    def finish_full(self, mailbox: str, full: FullSync, *, now: datetime) -> int:
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def finish(transaction: Any) -> tuple[int, int]:
            data = (ref.get(transaction=transaction).to_dict()) or {}
            stored = data.get("full_sync")
            current = data.get("history_id")
            if not (isinstance(stored, dict) and stored.get("token") == full.token):
                return int(current) if current is not None else full.history_id, 0
            moved = max(full.history_id, int(current) if current is not None else 0)
            transaction.update(
                ref,
                {
                    "history_id": moved,
                    "synced_at": full.started_at,
                    "advanced_at": now,
                    "full_sync": firestore.DELETE_FIELD,
                },
            )
            return moved, int(stored.get("parts") or 0)

        moved, parts = _firestore_call("checkpoint", lambda: finish(self._client.transaction()))
        try:
            self._drop_parts(mailbox, full.token, parts)
        except TransientError:  # the sync is done; a stale list only takes room
            logs.warning("gmail full-sync list not deleted", token=full.token)
        return int(moved)

    def lock(self, mailbox: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def take(transaction: Any) -> bool:
            held = ((ref.get(transaction=transaction).to_dict()) or {}).get("lock")
            if isinstance(held, dict) and held.get("owner") != owner and held["until"] > now:
                return False
            lock = {"owner": owner, "since": now, "until": now + lease}
            transaction.set(ref, {"lock": lock}, merge=True)
            return True

        return bool(_firestore_call("lock", lambda: take(self._client.transaction())))

    def unlock(self, mailbox: str, owner: str) -> None:
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def give_back(transaction: Any) -> None:
            held = ((ref.get(transaction=transaction).to_dict()) or {}).get("lock")
            if isinstance(held, dict) and held.get("owner") == owner:
                transaction.update(ref, {"lock": firestore.DELETE_FIELD})

        _firestore_call("unlock", lambda: give_back(self._client.transaction()))

    def _drop_parts(self, mailbox: str, token: str, parts: int) -> None:
        for n in range(parts):
            doc = self._parts(mailbox).document(f"{token}-{n}")
            _firestore_call("write", functools.partial(doc.delete, timeout=10.0))

    def record_watch(
        self, mailbox: str, *, history_id: int, expiration: datetime, now: datetime
    ) -> None:
        doc = {"watch_expiration": expiration, "watch_history_id": history_id, "watched_at": now}
        _firestore_call("write", lambda: self._ref(mailbox).set(doc, merge=True, timeout=5.0))
        self._tell_status(mailbox, {"watch_expiration": expiration, "watched_at": now})


class FirestoreAttempts:
    """``Attempts`` in Firestore: one small document per message read (attempts, done),
    kept ``ttl`` (longer than Gmail keeps history, so a re-listed message is skipped);
    a TTL policy on ``expires_at`` removes them."""

    def __init__(self, client: Any, collection: str, ttl: timedelta) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._ttl = ttl

    def _ref(self, key: str) -> Any:
        return self._collection.document(hashlib.sha256(key.encode()).hexdigest()[:40])

    def begin(self, key: str, *, now: datetime) -> int | None:
        from google.cloud import firestore

        ref = self._ref(key)

        @firestore.transactional  # type: ignore[misc]
        def count(transaction: Any) -> int | None:
            snapshot = ref.get(transaction=transaction)
            data = (snapshot.to_dict() or {}) if snapshot.exists else {}
            if data.get("done"):
                return None
            tries = int(data.get("attempts") or 0) + 1
            record = {"key": key, "attempts": tries, "at": now, "expires_at": now + self._ttl}
            transaction.set(ref, record)
            return tries

        tries = _firestore_call("attempt count", lambda: count(self._client.transaction()))
        return None if tries is None else int(tries)

    def done(self, key: str, *, now: datetime) -> None:
        record = {"key": key, "done": True, "attempts": 0, "at": now, "expires_at": now + self._ttl}
        _firestore_call("attempt done", lambda: self._ref(key).set(record, timeout=5.0))

    def release(self, key: str) -> None:
        from google.cloud import firestore

        ref = self._ref(key)

        @firestore.transactional  # type: ignore[misc]
        def back(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            data = (snapshot.to_dict() or {}) if snapshot.exists else {}
            if data and not data.get("done"):
                tries = int(data.get("attempts") or 0) - 1
                if tries > 0:
                    transaction.update(ref, {"attempts": tries})
                else:
                    transaction.delete(ref)

        _firestore_call("attempt release", lambda: back(self._client.transaction()))


class FirestoreLayoutMarkers:
    """``LayoutMarkers`` in Firestore: one document per (mailbox, service) with the
    change's number (``epoch``), ``state`` (``changed`` or ``ok``), since when and why."""

    def __init__(self, client: Any, collection: str) -> None:
        self._client = client
        self._collection = client.collection(collection)

    def _ref(self, mailbox: str, service: str) -> Any:
        key = f"{mailbox.lower()}:{service}"
        return self._collection.document(hashlib.sha256(key.encode()).hexdigest()[:40])

    def changed(self, mailbox: str, service: str, *, now: datetime, why: str) -> int:
        from google.cloud import firestore

        ref = self._ref(mailbox, service)

        @firestore.transactional  # type: ignore[misc]
        def mark(transaction: Any) -> int:
            stored = ref.get(transaction=transaction).to_dict() or {}
            epoch = int(stored.get("epoch") or 0)
            if stored.get("state") == "changed":
                return epoch
            doc = {"mailbox": mailbox.lower(), "service": service, "state": "changed"}
            transaction.set(ref, {**doc, "epoch": epoch + 1, "since": now, "why": why[:500]})
            return epoch + 1

        return int(_firestore_call("layout marker", lambda: mark(self._client.transaction())))

    def read_fine(self, mailbox: str, service: str, *, now: datetime) -> None:
        from google.cloud import firestore

        ref = self._ref(mailbox, service)
        # Nearly always nothing to end: one plain read, a transaction only after a change.
        stored = _firestore_call("layout marker", lambda: ref.get(timeout=5.0)).to_dict() or {}
        if stored.get("state") != "changed":
            return

        @firestore.transactional  # type: ignore[misc]
        def reset(transaction: Any) -> None:
            stored = ref.get(transaction=transaction).to_dict() or {}
            if stored.get("state") == "changed":
                transaction.update(ref, {"state": "ok", "read_fine_at": now})

        _firestore_call("layout marker", lambda: reset(self._client.transaction()))


# ------------------------------------------------------------------------- the work
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
