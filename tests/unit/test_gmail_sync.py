"""The sync core with small hand-written fakes: faults lose nothing and repeat nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.standins.gmail import ApiError, GmailStandIn
from orderhub import gmail
from orderhub.errors import TransientError
from orderhub.sources import email
from tests.conftest import FIXTURES

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BOX = "owner@shop.example"


class StandInGmail:
    """``gmail.Gmail`` straight onto the stand-in's logic (no HTTP)."""

    def __init__(self) -> None:
        self.state = GmailStandIn(BOX)

    def history(self, user: str, *, start: int, page_token: str | None, page_size: int) -> Any:
        query = {"startHistoryId": [str(start)], "maxResults": [str(page_size)]}
        if page_token:
            query["pageToken"] = [page_token]
        try:
            return self.state.list_history(user, query)
        except ApiError as exc:
            raise gmail.HistoryGone(exc.message) from exc

    def list_messages(self, user: str, *, query: str, page_token: str | None, page_size: int):
        params = {"q": [query], "maxResults": [str(page_size)], "labelIds": ["INBOX"]}
        if page_token:
            params["pageToken"] = [page_token]
        return self.state.list_messages(user, params)

    def get_raw(self, user: str, message_id: str) -> Any:
        return self.state.get_message(user, message_id, "raw")

    def watch(self, user: str, *, topic: str) -> Any:
        return self.state.watch(user, {"topicName": topic, "labelIds": ["INBOX"]})


class Claims:
    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}

    def claim(self, key: str, data: dict[str, Any], *, now: datetime) -> bool:
        if key in self.keys:
            return False
        self.keys[key] = data
        return True

    def release(self, key: str) -> None:
        self.keys.pop(key, None)


class Checkpoints:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.watches: dict[str, datetime] = {}

    def get(self, mailbox: str) -> int | None:
        return self.ids.get(mailbox)

    def advance(self, mailbox: str, history_id: int, *, now: datetime) -> int:
        self.ids[mailbox] = max(self.ids.get(mailbox, 0), history_id)
        return self.ids[mailbox]

    def record_watch(self, mailbox: str, *, history_id: int, expiration: datetime, now: datetime):
        self.watches[mailbox] = expiration


class Bus:
    def __init__(self, fail_times: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail_times = fail_times

    def publish(self, event: Any) -> str:
        if self.fail_times:
            self.fail_times -= 1
            raise TransientError("Pub/Sub is away")
        self.events.append(event)
        return str(len(self.events))


def run(api: StandInGmail, claims: Claims, checkpoints: Checkpoints, bus: Bus, notified: Any):
    return gmail.sync(
        mailbox=BOX,
        notified_history_id=notified,
        gmail=api,
        checkpoints=checkpoints,
        claims=claims,
        bus=bus,
        rules=email.shipped_rules(),
        now=lambda: NOW,
    )


def deliver(api: StandInGmail, name: str) -> int:
    return int(api.state.deliver(BOX, (FIXTURES / "email" / name).read_bytes())["historyId"])


def test_a_failed_publish_loses_nothing_and_the_retry_publishes_once():
    api, claims, checkpoints = StandInGmail(), Claims(), Checkpoints()
    deliver(api, "smakuy_one_item.eml")
    last = deliver(api, "kiire_plain_text.eml")

    with pytest.raises(TransientError):
        run(api, claims, checkpoints, Bus(fail_times=1), last)
    assert checkpoints.get(BOX) is None  # not advanced past unprocessed mail
    assert claims.keys == {}  # the failed one was released

    bus = Bus()
    result = run(api, claims, checkpoints, bus, last)  # Pub/Sub's redelivery
    run(api, claims, checkpoints, bus, None)  # and a catch-up run on top

    assert sorted(e["entity_id"] for e in bus.events) == ["K-3F8LX", "SM-48213"]
    assert result.checkpoint == last


def test_a_notification_not_beyond_the_checkpoint_calls_no_gmail_api():
    api, claims, checkpoints, bus = StandInGmail(), Claims(), Checkpoints(), Bus()
    first = deliver(api, "smakuy_one_item.eml")
    run(api, claims, checkpoints, bus, first)

    result = run(api, claims, checkpoints, bus, first)

    assert result.mode == "up_to_date"
    assert len(bus.events) == 1


def test_watch_renewal_records_when_the_watch_expires():
    api, checkpoints = StandInGmail(), Checkpoints()
    expires = gmail.renew_watch(
        mailbox=BOX,
        topic="projects/p/topics/gmail-push",
        gmail=api,
        checkpoints=checkpoints,
        now=NOW,
    )
    assert checkpoints.watches[BOX] == expires
    assert api.state.box(BOX).watch["topicName"] == "projects/p/topics/gmail-push"


def test_refused_credentials_say_what_to_do():
    from google.auth.exceptions import RefreshError

    class Expired:
        def execute(self, num_retries: int = 0) -> Any:
            raise RefreshError("invalid_grant: Token has been expired or revoked.")

    with pytest.raises(TransientError, match="re-run scripts/gmail_authorize"):
        gmail.GmailApi._run(Expired(), "history")
