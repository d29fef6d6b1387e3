"""Fakes for the Gmail sync core: ``gmail_api.Gmail`` straight onto the stand-in's logic (no
HTTP), and in-memory checkpoints, attempt counts and bus, each able to fail on cue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.standins.gmail import ApiError, GmailStandIn
from orderhub.errors import TransientError
from orderhub.gmail_ingest import gmail_api
from orderhub.gmail_ingest import sync as gmail
from orderhub.gmail_ingest.stores import FullSync, MailboxState
from orderhub.sources import email
from tests.conftest import FIXTURES

BOX = "owner@shop.example"
NOW = datetime.now(UTC).replace(microsecond=0)
MAILS = FIXTURES / "email"


class Killed(BaseException):
    """The function dying mid-run (timeout, out of memory): nothing of ours catches it."""


class StandInGmail:
    """``gmail_api.Gmail`` straight onto the stand-in's logic (no HTTP)."""

    def __init__(self) -> None:
        self.state = GmailStandIn(BOX)
        #: called before a message is fetched raw, with its id (to inject faults)
        self.before_raw: Callable[[str], None] = lambda message_id: None
        self.before_metadata: Callable[[str], None] = lambda message_id: None

    def profile(self, user: str) -> Any:
        return self.state.profile(user)

    def history(self, user: str, *, start: int, page_token: str | None, page_size: int) -> Any:
        query = {
            "startHistoryId": [str(start)],
            "maxResults": [str(page_size)],
            "historyTypes": list(gmail_api.HISTORY_TYPES),
        }
        if page_token:
            query["pageToken"] = [page_token]
        try:
            return self.state.list_history(user, query)
        except ApiError as exc:
            raise gmail_api.HistoryGone(exc.message) from exc

    def list_messages(self, user: str, *, query: str, page_token: str | None, page_size: int):
        params = {"q": [query], "maxResults": [str(page_size)]}
        if page_token:
            params["pageToken"] = [page_token]
        return self.state.list_messages(user, params)

    def get_metadata(self, user: str, message_id: str) -> Any:
        self.before_metadata(message_id)
        try:
            return self.state.get_message(
                user, message_id, "metadata", list(gmail_api.METADATA_HEADERS)
            )
        except ApiError as exc:
            raise gmail_api.MessageGone(exc.message) from exc

    def get_raw(self, user: str, message_id: str) -> Any:
        self.before_raw(message_id)
        try:
            return self.state.get_message(user, message_id, "raw")
        except ApiError as exc:
            raise gmail_api.MessageGone(exc.message) from exc

    def watch(self, user: str, *, topic: str) -> Any:
        return self.state.watch(user, {"topicName": topic})

    def raw_fetches(self) -> list[str]:
        return [m for m, fmt in self.state.fetched if fmt == "raw"]


class Checkpoints:
    def __init__(self) -> None:
        self.states: dict[str, MailboxState] = {}
        self.watches: dict[str, datetime] = {}
        self.locks: dict[str, tuple[str, datetime, datetime]] = {}  # owner, since, until

    def load(self, mailbox: str) -> MailboxState:
        state = self.states.get(mailbox, MailboxState())
        held = self.locks.get(mailbox)
        return replace(state, locked_since=held[1] if held else None)

    def get(self, mailbox: str) -> int | None:
        return self.load(mailbox).history_id

    def advance(
        self, mailbox: str, history_id: int, *, now: datetime, synced_at: datetime | None = None
    ) -> int:
        state = self.load(mailbox)
        moved = max(state.history_id or 0, history_id)
        self.states[mailbox] = replace(
            state, history_id=moved, synced_at=synced_at or state.synced_at
        )
        return moved

    def begin_full(self, mailbox: str, full: FullSync, *, now: datetime) -> FullSync:
        state = self.load(mailbox)
        if state.full is not None:
            return state.full
        self.states[mailbox] = replace(state, full=full)
        return full

    def full_progress(self, mailbox: str, full: FullSync, done: int, *, now: datetime):
        state = self.load(mailbox)
        if state.full is not None and state.full.token == full.token:
            self.states[mailbox] = replace(state, full=replace(state.full, done=done))

    def finish_full(self, mailbox: str, full: FullSync, *, now: datetime) -> int:
        state = self.load(mailbox)
        if state.full is None or state.full.token != full.token:
            return state.history_id or full.history_id
        moved = max(state.history_id or 0, full.history_id)
        self.states[mailbox] = MailboxState(moved, full.started_at, None)
        return moved

    def record_watch(self, mailbox: str, *, history_id: int, expiration: datetime, now: datetime):
        self.watches[mailbox] = expiration

    def lock(self, mailbox: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
        held = self.locks.get(mailbox)
        if held is not None and held[0] != owner and held[2] > now:
            return False
        self.locks[mailbox] = (owner, now, now + lease)
        return True

    def unlock(self, mailbox: str, owner: str) -> None:
        if self.locks.get(mailbox, ("", NOW, NOW))[0] == owner:
            del self.locks[mailbox]


class Attempts:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.published: set[str] = set()
        self.lose_answers = 0  # begin() writes, then its answer is lost this many times

    def begin(self, key: str, *, now: datetime) -> int | None:
        if key in self.published:
            return None
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.lose_answers:
            self.lose_answers -= 1
            raise TransientError("Firestore answer lost (deadline exceeded)")
        return self.counts[key]

    def done(self, key: str, *, now: datetime) -> None:
        self.counts.pop(key, None)
        self.published.add(key)

    def release(self, key: str) -> None:
        if key in self.counts:
            self.counts[key] -= 1
            if not self.counts[key]:
                del self.counts[key]


class Bus:
    def __init__(self, fail_times: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail_times = fail_times
        #: called with each event before it is published; may raise
        self.before: Callable[[dict[str, Any]], None] = lambda event: None

    def publish(self, event: Any) -> str:
        self.before(event)
        if self.fail_times:
            self.fail_times -= 1
            raise TransientError("Pub/Sub is away")
        self.events.append(event)
        return str(len(self.events))

    def orders(self) -> list[str]:
        return [e["entity_id"] for e in self.events if e["event_type"] == "order.created"]

    def quarantined(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_type"] == "payload.quarantined"]


class World:
    """A mailbox and the stores one sync needs."""

    def __init__(self, **limits: Any) -> None:
        self.api = StandInGmail()
        self.checkpoints = Checkpoints()
        self.attempts = Attempts()
        self.bus = Bus()
        self.limits = gmail.SyncLimits(**limits)
        self.clock = NOW

    def sync(
        self,
        notified: int | None = None,
        *,
        bus: Bus | None = None,
        notified_at: datetime | None = None,
    ) -> gmail.SyncResult:
        return gmail.sync(
            mailbox=BOX,
            notified_history_id=notified,
            gmail=self.api,
            checkpoints=self.checkpoints,
            attempts=self.attempts,
            bus=bus or self.bus,
            rules=email.shipped_rules(),
            now=lambda: self.clock,
            limits=self.limits,
            notified_at=notified_at,
        )

    def drain(self, most: int = 50) -> int:
        """Sync until a run says there is no more; how many runs it took."""
        for runs in range(1, most + 1):
            if not self.sync().more:
                return runs
        raise AssertionError(f"still more after {most} runs")

    def deliver(
        self, raw: bytes | str, *, labels: list[str] | None = None, age: timedelta | None = None
    ) -> dict[str, Any]:
        data = (MAILS / raw).read_bytes() if isinstance(raw, str) else raw
        at = int((NOW - age).timestamp() * 1000) if age is not None else None
        return self.api.state.deliver(BOX, data, labels, at)

    def history_id(self, delivered: dict[str, Any]) -> int:
        return int(delivered["historyId"])


def kiire(number: str, total: str = "5.00") -> bytes:
    """The plain-text Kiire sample as order ``K-<number>``, with another total if given."""
    raw = (MAILS / "kiire_plain_text.eml").read_bytes()
    raw = raw.replace(b"K-3F8LX", f"K-{number}".encode())
    return raw.replace(b"Total: =E2=82=AC5.00", f"Total: =E2=82=AC{total}".encode())


def newsletter(n: int) -> bytes:
    raw = (MAILS / "unrelated_newsletter.eml").read_bytes()
    return raw.replace(b"Subject: ", f"Subject: [{n}] ".encode(), 1)
