"""The core of ``gmail_ingest`` and ``gmail_watch_renew``: from "the mailbox changed" to
order events on the bus, each order once. No Flask, no CloudEvents here.

How a sync runs (``sync``):

1. The mailbox's checkpoint (the last ``historyId`` fully processed) is read from
   Firestore. A notification whose ``historyId`` is not beyond it brings nothing new.
2. ``users.history.list`` from the checkpoint (``historyTypes=messageAdded``,
   ``labelId=INBOX``), following ``nextPageToken``, lists the messages added since.
3. With no checkpoint yet, or when Gmail answers 404 (the checkpoint is older than the
   history Gmail keeps), a *full sync* lists the newest INBOX messages of the last few
   days (``users.messages.list``) instead: the first notification of a mailbox therefore
   picks up the mail that triggered it, and a long outage loses nothing recent.
4. Each message is fetched (``format=raw``), decoded, matched against the rules files
   and turned into an ``order.created`` event, a ``payload.quarantined`` event (a rule
   recognised it but could not read it fully), or nothing (no rule knows the sender).
5. Each event is claimed in Firestore by its deterministic id before it is published,
   so overlapping history, redelivered notifications, the catch-up run and the same
   mail forwarded twice publish it once.
6. Only when every message is done does the checkpoint move forward, in a transaction
   that never moves it back. A failure before that raises, Pub/Sub redelivers, and the
   claims make the repeat harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from orderhub import logs, mime
from orderhub.bus import Bus, publish_once
from orderhub.errors import TransientError
from orderhub.event import Event, Raw, iso, stable_id
from orderhub.sources import email
from orderhub.stores import Claims
from orderhub.webhook import quarantine_event

INBOX = "INBOX"
RAW_KIND = "gmail_message"


class HistoryGone(Exception):
    """``history.list`` answered 404: the start id is too old; a full sync is needed."""


class MessageGone(Exception):
    """The message was deleted between the history listing and the fetch."""


class Gmail(Protocol):
    """The four Gmail API calls OrderHub makes (``GmailApi`` is the real one)."""

    def history(
        self, user: str, *, start: int, page_token: str | None, page_size: int
    ) -> dict[str, Any]: ...

    def list_messages(
        self, user: str, *, query: str, page_token: str | None, page_size: int
    ) -> dict[str, Any]: ...

    def get_raw(self, user: str, message_id: str) -> dict[str, Any]: ...

    def watch(self, user: str, *, topic: str) -> dict[str, Any]: ...


class Checkpoints(Protocol):
    def get(self, mailbox: str) -> int | None: ...

    def advance(self, mailbox: str, history_id: int, *, now: datetime) -> int: ...

    def record_watch(
        self, mailbox: str, *, history_id: int, expiration: datetime, now: datetime
    ) -> None: ...


@dataclass
class SyncResult:
    mode: str  # "history" | "full" | "up_to_date"
    checkpoint: int | None = None
    seen: int = 0
    published: list[str] = field(default_factory=list)  # event ids
    quarantined: list[str] = field(default_factory=list)  # Gmail message ids
    duplicates: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class SyncLimits:
    page_size: int = 100
    full_sync_messages: int = 50
    full_sync_days: int = 3


# --------------------------------------------------------------------- the real Gmail
class GmailApi:
    """``Gmail`` over google-api-python-client; HTTP faults become our errors.

    ``service_factory`` builds a fresh ``googleapiclient`` resource: its httplib2
    transport is not thread-safe, so one is made per sync rather than shared.
    """

    def __init__(self, service_factory: Callable[[], Any]) -> None:
        self._factory = service_factory
        self._service: Any = None

    def _users(self) -> Any:
        if self._service is None:
            self._service = self._factory()
        return self._service.users()

    @staticmethod
    def _run(request: Any, what: str) -> dict[str, Any]:
        import httplib2
        from google.auth.exceptions import RefreshError
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
        except (OSError, httplib2.HttpLib2Error) as exc:
            raise TransientError(f"Gmail unreachable during {what}: {exc}") from exc

    def history(
        self, user: str, *, start: int, page_token: str | None, page_size: int
    ) -> dict[str, Any]:
        request = (
            self._users()
            .history()
            .list(
                userId=user,
                startHistoryId=str(start),
                historyTypes="messageAdded",
                labelId=INBOX,
                maxResults=page_size,
                pageToken=page_token,
            )
        )
        return self._run(request, "history")

    def list_messages(
        self, user: str, *, query: str, page_token: str | None, page_size: int
    ) -> dict[str, Any]:
        request = (
            self._users()
            .messages()
            .list(
                userId=user, labelIds=[INBOX], q=query, maxResults=page_size, pageToken=page_token
            )
        )
        return self._run(request, "messages.list")

    def get_raw(self, user: str, message_id: str) -> dict[str, Any]:
        request = self._users().messages().get(userId=user, id=message_id, format="raw")
        return self._run(request, "message")

    def watch(self, user: str, *, topic: str) -> dict[str, Any]:
        body = {"topicName": topic, "labelIds": [INBOX], "labelFilterBehavior": "include"}
        return self._run(self._users().watch(userId=user, body=body), "watch")


# ----------------------------------------------------------------------- checkpoints
class FirestoreCheckpoints:
    """One document per mailbox: ``history_id`` (only ever grows) and the watch's expiry."""

    def __init__(self, client: Any, collection: str) -> None:
        self._client = client
        self._collection = client.collection(collection)

    def _ref(self, mailbox: str) -> Any:
        return self._collection.document(mailbox.lower().replace("/", "_"))

    def get(self, mailbox: str) -> int | None:
        from google.api_core import exceptions

        try:
            snapshot = self._ref(mailbox).get(timeout=5.0)
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore read failed: {exc.__class__.__name__}") from exc
        value = (snapshot.to_dict() or {}).get("history_id") if snapshot.exists else None
        return int(value) if value is not None else None

    def advance(self, mailbox: str, history_id: int, *, now: datetime) -> int:
        """Set the checkpoint to ``history_id`` unless it is already further; returns it."""
        from google.api_core import exceptions
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def move(transaction: Any) -> int:
            snapshot = ref.get(transaction=transaction)
            current = (snapshot.to_dict() or {}).get("history_id") if snapshot.exists else None
            if current is not None and int(current) >= history_id:
                return int(current)
            transaction.set(ref, {"history_id": history_id, "synced_at": now}, merge=True)
            return history_id

        try:
            return int(move(self._client.transaction()))
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore checkpoint failed: {exc.__class__.__name__}") from exc

    def record_watch(
        self, mailbox: str, *, history_id: int, expiration: datetime, now: datetime
    ) -> None:
        from google.api_core import exceptions

        try:
            self._ref(mailbox).set(
                {"watch_expiration": expiration, "watch_history_id": history_id, "watched_at": now},
                merge=True,
                timeout=5.0,
            )
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore write failed: {exc.__class__.__name__}") from exc


# ------------------------------------------------------------------------- the work
def _raw(mailbox: str, message: dict[str, Any], body: bytes, service: str, at: datetime) -> Raw:
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        import base64

        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    return {
        "raw_id": stable_id("gmail", mailbox, message["id"]),
        "kind": RAW_KIND,
        "received_at": iso(at),
        "sha256": hashlib.sha256(body).hexdigest(),
        "body": text,
        "meta": {
            "gmail_message_id": str(message["id"]),
            "gmail_thread_id": str(message.get("threadId") or ""),
            "service": service,
            "encoding": encoding,
            "format": "message/rfc822",
        },
    }


def _received_at(message: dict[str, Any], fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(message["internalDate"]) / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError):
        return fallback


def message_events(
    *, mailbox: str, message: dict[str, Any], rules: Sequence[email.Rules], now: datetime
) -> list[tuple[str, Event | None, str | None]]:
    """One fetched message (``format=raw``) → its (outcome, event, reason) triples.

    outcome is ``order`` (an ``order.created`` event, one per order the mail carries,
    each with the deterministic id of its order), ``quarantined`` (a rule knew the mail
    but could not read all of it: one event for the mail, carrying the raw MIME and every
    reason) or ``ignored`` (no rule knows it: the one triple has no event). A mail with
    two orders, one readable and one not, gives the readable order and the quarantine.
    """
    body = mime.b64url_decode(str(message.get("raw") or ""))
    mail = mime.parse(body)
    found = email.match(rules, mail)
    if found is None:
        return [("ignored", None, None)]
    at = _received_at(message, now)
    raw = _raw(mailbox, message, body, found.service, at)
    triples: list[tuple[str, Event | None, str | None]] = []
    problems: list[str] = []
    for extraction in email.extract_orders(found, mail):
        if extraction.complete:
            event = email.order_event(extraction, mail, shop=mailbox, raw=raw, at=at)
            triples.append(("order", event, None))
        else:
            problems += extraction.problems
    if problems:
        reason = "; ".join(problems)
        event = quarantine_event(
            source=found.source,
            shop=mailbox,
            raw=raw,
            reason=reason,
            ref=str(message["id"]),
            topic=None,
            at=at,  # the message's own arrival time: the same message, the same event id
        )
        triples.append(("quarantined", event, reason))
    return triples


def _history_ids(
    gmail: Gmail, mailbox: str, start: int, page_size: int
) -> tuple[list[str], int | None]:
    ids: list[str] = []
    latest: int | None = None
    token: str | None = None
    while True:
        page = gmail.history(mailbox, start=start, page_token=token, page_size=page_size)
        if page.get("historyId"):
            latest = max(latest or 0, int(page["historyId"]))
        for record in page.get("history") or []:
            for added in record.get("messagesAdded") or []:
                message = added.get("message") or {}
                labels = message.get("labelIds")
                if message.get("id") and (labels is None or INBOX in labels):
                    ids.append(str(message["id"]))
        token = page.get("nextPageToken")
        if not token:
            return ids, latest


def _recent_ids(gmail: Gmail, mailbox: str, limits: SyncLimits) -> list[str]:
    ids: list[str] = []
    token: str | None = None
    query = f"newer_than:{limits.full_sync_days}d"
    while len(ids) < limits.full_sync_messages:
        page = gmail.list_messages(
            mailbox,
            query=query,
            page_token=token,
            page_size=min(limits.page_size, limits.full_sync_messages - len(ids)),
        )
        ids += [str(m["id"]) for m in page.get("messages") or [] if m.get("id")]
        token = page.get("nextPageToken")
        if not token:
            break
    ids.reverse()  # messages.list is newest first; process in arrival order
    return ids


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def sync(
    *,
    mailbox: str,
    notified_history_id: int | None,
    gmail: Gmail,
    checkpoints: Checkpoints,
    claims: Claims,
    bus: Bus,
    rules: Sequence[email.Rules],
    now: Callable[[], datetime],
    limits: SyncLimits = SyncLimits(),
) -> SyncResult:
    """Bring the mailbox's new order mail onto the bus, once each (see the module doc)."""
    mailbox = mailbox.lower()
    stored = checkpoints.get(mailbox)
    if stored is not None and notified_history_id is not None and notified_history_id <= stored:
        return SyncResult("up_to_date", checkpoint=stored)
    ids: list[str] = []
    latest: int | None = None
    mode = "history"
    if stored is not None:
        try:
            ids, latest = _history_ids(gmail, mailbox, stored, limits.page_size)
        except HistoryGone:
            logs.warning("gmail history too old, running a full sync", checkpoint=stored)
            mode = "full"
    else:
        mode = "full"
    if mode == "full":
        ids = _recent_ids(gmail, mailbox, limits)
    result = SyncResult(mode)
    baseline = max(x for x in (notified_history_id, latest, stored, 0) if x is not None)
    for message_id in _unique(ids):
        try:
            message = gmail.get_raw(mailbox, message_id)
        except MessageGone:
            continue
        result.seen += 1
        if message.get("historyId"):
            baseline = max(baseline, int(message["historyId"]))
        _deliver(mailbox, message, rules=rules, claims=claims, bus=bus, now=now, result=result)
    if baseline:
        result.checkpoint = checkpoints.advance(mailbox, baseline, now=now())
    return result


def _deliver(
    mailbox: str,
    message: dict[str, Any],
    *,
    rules: Sequence[email.Rules],
    claims: Claims,
    bus: Bus,
    now: Callable[[], datetime],
    result: SyncResult,
) -> None:
    message_id = str(message["id"])
    for outcome, event, reason in message_events(
        mailbox=mailbox, message=message, rules=rules, now=now()
    ):
        _deliver_one(mailbox, message_id, outcome, event, reason, claims, bus, now, result)


def _deliver_one(
    mailbox: str,
    message_id: str,
    outcome: str,
    event: Event | None,
    reason: str | None,
    claims: Claims,
    bus: Bus,
    now: Callable[[], datetime],
    result: SyncResult,
) -> None:
    if event is None:
        result.ignored += 1
        logs.info("gmail message ignored: no rules match its sender and subject", ref=message_id)
        return
    first = publish_once(
        event,
        key=f"gmail:{mailbox}:{event['event_id']}",
        record={"event_id": event["event_id"], "gmail_message_id": message_id},
        claims=claims,
        bus=bus,
        at=now(),
    )
    if not first:
        result.duplicates += 1
        logs.info("gmail message already published", ref=message_id, event_id=event["event_id"])
        return
    if outcome == "order":
        result.published.append(event["event_id"])
        logs.info(
            "gmail order published",
            ref=message_id,
            source=event["source"],
            event_id=event["event_id"],
        )
    else:
        result.quarantined.append(message_id)
        logs.warning(
            "gmail order mail quarantined", ref=message_id, source=event["source"], reason=reason
        )


def renew_watch(
    *, mailbox: str, topic: str, gmail: Gmail, checkpoints: Checkpoints, now: datetime
) -> datetime:
    """Start or renew ``users.watch`` on INBOX; record and return when it expires."""
    answer = gmail.watch(mailbox, topic=topic)
    expiration = datetime.fromtimestamp(int(answer["expiration"]) / 1000, tz=UTC)
    checkpoints.record_watch(
        mailbox.lower(), history_id=int(answer["historyId"]), expiration=expiration, now=now
    )
    return expiration
