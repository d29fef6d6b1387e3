"""Managers' messages within Meta's rules (issue 14 item 7): no message tag by default,
and a manager whose Messenger window has closed still hears of a new order, by e-mail."""

from __future__ import annotations

import base64
import email
import json
from email import policy as email_policy
from typing import Any

import pytest

from orderhub.errors import ConfigError, TransientError
from orderhub.managers import Manager, parse
from orderhub.notifier.email_fallback import GmailFallback
from orderhub.notifier.notify import FallbackFailed, Policy, notify
from tests.unit.test_notifier_core import AT, MemoryLedger, Rows, ScriptedSender, order_created

ANNA = Manager("111", "Anna", email="anna@shop.example")
BORIS = Manager("222", "Boris")  # no e-mail address


class Mailbox:
    def __init__(self, *answers: Any) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.answers = list(answers)

    def send(self, manager: Manager, *, subject: str, text: str) -> None:
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        self.sent.append((str(manager.email), subject, text))


def run(sender: ScriptedSender, ledger: MemoryLedger, rows: Rows, mailbox: Mailbox | None):
    return notify(
        order_created(),
        managers=(ANNA, BORIS),
        ledger=ledger,
        sender=sender,
        inserter=rows,
        policy=Policy(),
        now=lambda: AT,
        fallback=mailbox,
    )


def test_a_closed_window_is_bridged_by_e_mail_once():
    ledger, rows, mailbox = MemoryLedger(), Rows(), Mailbox()
    summary = run(ScriptedSender(s111=["3011"]), ledger, rows, mailbox)
    assert summary.emailed == ["111"] and summary.sent == ["222"]
    ((to, subject, text),) = mailbox.sent
    assert to == "anna@shop.example" and subject.startswith("🛒 New order #9")
    assert "Messenger window" in text
    assert rows.of("emailed") == ["111"]
    # a redelivery finds the claim final: no second e-mail, no second message
    summary = run(ScriptedSender(), ledger, rows, mailbox)
    assert len(mailbox.sent) == 1 and sorted(summary.duplicate) == ["111", "222"]


def test_a_manager_without_an_address_stays_failed_with_the_code():
    ledger, rows, mailbox = MemoryLedger(), Rows(), Mailbox()
    summary = run(ScriptedSender(s222=["3011"]), ledger, rows, mailbox)
    assert summary.failed == ["222"] and mailbox.sent == []


def test_an_e_mail_outage_is_retried_not_dropped():
    ledger, rows = MemoryLedger(), Rows()
    with pytest.raises(TransientError):
        run(ScriptedSender(s111=["3011"]), ledger, rows, Mailbox(TransientError("503")))
    mailbox = Mailbox()
    run(ScriptedSender(s111=["3011"]), ledger, rows, mailbox)
    assert [m[0] for m in mailbox.sent] == ["anna@shop.example"]


def test_an_address_gmail_refuses_is_failed_for_good():
    ledger, rows = MemoryLedger(), Rows()
    summary = run(ScriptedSender(s111=["3011"]), ledger, rows, Mailbox(FallbackFailed("400")))
    assert summary.failed == ["111"]


def test_without_a_fallback_a_closed_window_is_failed_as_before():
    summary = run(ScriptedSender(s111=["3011"]), MemoryLedger(), Rows(), None)
    assert summary.failed == ["111"]


def test_manager_e_mail_is_checked():
    (anna,) = parse([{"subscriber_id": "1", "name": "A", "email": "a@x.example"}], where="t")
    assert anna.email == "a@x.example" and anna.as_dict()["email"] == "a@x.example"
    with pytest.raises(ConfigError, match="email"):
        parse([{"subscriber_id": "1", "email": "a@x.example, b@y.example"}], where="t")


class FakeGmail:
    """The part of google-api-python-client's Gmail resource that ``send`` uses."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def users(self) -> FakeGmail:
        return self

    def messages(self) -> FakeGmail:
        return self

    def send(self, userId: str, body: dict[str, Any]) -> FakeGmail:
        assert userId == "me"
        self.bodies.append(body)
        return self

    def execute(self, num_retries: int = 0) -> dict[str, Any]:
        return {"id": "m1"}


def test_gmail_fallback_sends_plain_text_to_the_manager_only():
    gmail = FakeGmail()
    GmailFallback(lambda: gmail, "Shop <orders@shop.example>").send(
        ANNA, subject="🛒 New order #9\nBcc: x@evil.example", text="Total: 1 USD"
    )
    (body,) = gmail.bodies
    message = email.message_from_bytes(
        base64.urlsafe_b64decode(body["raw"]), policy=email_policy.default
    )
    assert message["To"] == "Anna <anna@shop.example>"
    assert message["Bcc"] is None  # a newline in the subject cannot add a header
    assert message.get_content().strip() == "Total: 1 USD"
    assert json.dumps(body)  # JSON-ready for the API


def test_the_fallback_needs_the_shops_gmail_credentials():
    from orderhub.notifier.settings import NotifierSettings

    env = {"GOOGLE_CLOUD_PROJECT": "p", "BIGQUERY_DATASET": "d", "MANYCHAT_TOKEN": "t"}
    assert NotifierSettings.from_env(env).fallback_from == ""  # off by default
    with pytest.raises(ConfigError, match="GMAIL_REFRESH_TOKEN"):
        NotifierSettings.from_env({**env, "NOTIFY_FALLBACK_FROM": "orders@shop.example"})
    on = NotifierSettings.from_env(
        {**env, "NOTIFY_FALLBACK_FROM": "orders@shop.example", "GMAIL_SEND_REFRESH_TOKEN": "r"}
    )
    assert on.fallback_from == "orders@shop.example" and on.gmail_refresh_token == "r"
