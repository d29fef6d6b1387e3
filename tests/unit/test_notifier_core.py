"""The notifier's core with hand-written fakes: one message per manager per event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderhub.errors import ConfigError, TransientError
from orderhub.event import make_event
from orderhub.ledger import FINAL_STATES, Begin
from orderhub.managers import Manager, parse
from orderhub.notifier.notify import Policy, announcement_id, notify
from orderhub.notifier.settings import NotifierSettings
from orderhub.sinks.manychat import Outcome, SendFailed

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ANNA, BORIS = Manager("111", "Anna"), Manager("222", "Boris")
SCHEMA = [
    {"name": n, "type": t, "mode": "NULLABLE"}
    for n, t in [
        ("notification_id", "STRING"),
        ("event_id", "STRING"),
        ("order_id", "STRING"),
        ("manager_id", "STRING"),
        ("manager_name", "STRING"),
        ("status", "STRING"),
        ("attempt", "INTEGER"),
        ("manychat_code", "INTEGER"),
        ("attempted_at", "TIMESTAMP"),
    ]
]


class MemoryLedger:
    """The ledger's contract in memory (the Firestore one is tested on the emulator)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def begin(self, key: str, data: dict[str, Any], *, now: datetime, lease: timedelta) -> Begin:
        record = self.records.get(key)
        if record is None:
            self.records[key] = {**data, "state": "sending", "attempt": 1, "started_at": now}
            return Begin("new", 1, self.records[key])
        if record["state"] in FINAL_STATES:
            return Begin("done", record["attempt"], record)
        if record["state"] == "sending" and record["started_at"] + lease > now:
            return Begin("busy", record["attempt"], record)
        record.update(state="sending", attempt=record["attempt"] + 1, started_at=now)
        return Begin("retake", record["attempt"], record)

    def finish(self, key: str, state: str, fields: dict[str, Any], *, now: datetime) -> None:
        self.records[key].update(fields, state=state, finished_at=now)

    def mark_logged(self, key: str) -> None:
        self.records[key]["logged"] = True


class ScriptedSender:
    """Answers per subscriber from a script (default: sent), remembering every call."""

    def __init__(self, **scripts: list[Any]) -> None:
        self.scripts = scripts
        self.calls: list[str] = []

    def send_content(
        self, subscriber_id: str, messages: list[dict[str, Any]], message_tag: str | None
    ) -> Outcome:
        self.calls.append(subscriber_id)
        script = self.scripts.get(f"s{subscriber_id}") or []
        answer = script.pop(0) if script else "ok"
        if answer == "ok":
            return Outcome(sent=True, http_status=200)
        if answer == "500":
            raise SendFailed("ManyChat answered HTTP 500", http_status=500)
        return Outcome(sent=False, http_status=400, code=int(answer), reason="no")


class Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def schema(self, table: str) -> Sequence[dict[str, Any]]:
        assert table == "notifications"
        return SCHEMA

    def insert(self, table: str, rows: list[dict[str, Any]], row_ids: list[str]) -> None:
        self.rows += rows

    def of(self, status: str) -> list[str]:
        return [r["manager_id"] for r in self.rows if r["status"] == status]


def order_created(event_type: str = "order.created") -> Any:
    entity = {
        "order_id": "9",
        "name": "#9",
        "currency": "USD",
        "total": {"amount": "1", "currency": "USD"},
    }
    return make_event(
        event_type=event_type,
        source="shopify",
        shop="s.myshopify.com",
        occurred_at=AT,
        version=1,
        entity_id="9",
        entity=entity,
    )


def run(
    event: Any,
    ledger: MemoryLedger,
    sender: ScriptedSender,
    rows: Rows,
    managers: Sequence[Manager] = (ANNA, BORIS),
    at: datetime = AT,
) -> Any:
    return notify(
        event,
        managers=managers,
        ledger=ledger,
        sender=sender,
        inserter=rows,
        policy=Policy(message_tag="ACCOUNT_UPDATE", max_attempts=3),
        now=lambda: at,
    )


def test_each_manager_gets_one_message_and_one_sent_row():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    summary = run(order_created(), ledger, sender, rows)
    assert sorted(sender.calls) == ["111", "222"]
    assert sorted(rows.of("sent")) == ["111", "222"]
    assert rows.rows[0]["order_id"] == "9" and rows.rows[0]["manager_name"] == "Anna"
    assert summary.sent == ["111", "222"]


def test_redelivery_sends_nothing_again():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    run(order_created(), ledger, sender, rows)
    summary = run(order_created(), ledger, sender, rows)
    assert len(sender.calls) == 2
    assert len(rows.rows) == 2
    assert summary.duplicate == ["111", "222"]


def test_a_5xx_for_one_manager_retries_only_that_manager():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(s111=["500", "500"]), Rows()
    for _ in range(2):
        with pytest.raises(TransientError):
            run(order_created(), ledger, sender, rows)
    run(order_created(), ledger, sender, rows)
    assert sender.calls.count("111") == 3 and sender.calls.count("222") == 1
    assert rows.of("retrying") == ["111", "111"]
    assert sorted(rows.of("sent")) == ["111", "222"]


def test_3011_is_failed_with_its_code_and_never_retried():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(s111=["3011"]), Rows()
    summary = run(order_created(), ledger, sender, rows)  # no raise: nothing to retry
    run(order_created(), ledger, sender, rows)
    assert sender.calls.count("111") == 1
    failed = [r for r in rows.rows if r["status"] == "failed"]
    assert [(r["manager_id"], r["manychat_code"]) for r in failed] == [("111", 3011)]
    assert summary.failed == ["111"]


def test_endless_5xx_is_given_up_after_max_attempts():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(s111=["500"] * 10), Rows()
    for _ in range(3):
        with pytest.raises(TransientError):
            run(order_created(), ledger, sender, rows)
    run(order_created(), ledger, sender, rows)  # the fourth delivery closes it
    assert sender.calls.count("111") == 3
    assert rows.of("failed") == ["111"]


def test_a_live_claim_of_another_instance_is_left_alone():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    ledger.records[f"{announcement_id(order_created())}:111"] = {
        "state": "sending",
        "attempt": 1,
        "started_at": AT - timedelta(seconds=5),
    }
    with pytest.raises(TransientError):
        run(order_created(), ledger, sender, rows)
    assert sender.calls == ["222"]
    # Once the lease (60 s) has run out, the unconfirmed claim is sent again.
    run(order_created(), ledger, sender, rows, at=AT + timedelta(seconds=61))
    assert sender.calls == ["222", "111"]


def test_updates_notify_nobody():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    assert run(order_created("order.updated"), ledger, sender, rows) is None
    assert sender.calls == [] and rows.rows == []


def test_backfilled_history_notifies_nobody():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    event = order_created()
    event["origin"] = "backfill"
    assert run(event, ledger, sender, rows) is None
    assert sender.calls == [] and rows.rows == []
    assert run(order_created(), ledger, sender, rows) is not None  # the live one does


def test_no_managers_is_retried_not_dropped():
    with pytest.raises(TransientError, match="no managers"):
        run(order_created(), MemoryLedger(), ScriptedSender(), Rows(), managers=())


def test_managers_config_is_checked():
    assert parse('[{"subscriber_id": "5", "name": "E"}]', where="X") == (Manager("5", "E"),)
    with pytest.raises(ConfigError, match="X"):
        parse('[{"subscriber_id": "abc"}]', where="X")
    with pytest.raises(ConfigError, match="twice"):
        parse([{"subscriber_id": "5"}, {"subscriber_id": "5"}], where="X")


def test_settings_name_the_missing_token():
    env = {"GOOGLE_CLOUD_PROJECT": "p", "BIGQUERY_DATASET": "d"}
    with pytest.raises(ConfigError, match="MANYCHAT_TOKEN"):
        NotifierSettings.from_env(env)
    settings = NotifierSettings.from_env({**env, "MANYCHAT_TOKEN": "t"})
    assert settings.manychat_api_url == "https://api.manychat.com"
    assert settings.message_tag is None  # manager alerts carry no tag (Meta's policy)
    assert (
        NotifierSettings.from_env(
            {**env, "MANYCHAT_TOKEN": "t", "MANYCHAT_MESSAGE_TAG": "account_update"}
        ).message_tag
        == "ACCOUNT_UPDATE"
    )
