"""The running stack: signed Shopify webhooks → order-events → notifier → the ManyChat
stand-in, with the outcome in the stack's BigQuery ``notifications`` table."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from devstack.shopify_sender import fixture, send
from tests.conftest import Crm
from tests.manychat import StandIn


class E2E:
    def __init__(self, stack: dict[str, str], crm: Crm, managers: list[str]) -> None:
        self.stack, self.crm, self.managers = stack, crm, managers
        self.standin = StandIn(stack["MANYCHAT_API_URL"])

    def webhook(self, payload: dict[str, Any], webhook_id: str | None = None) -> str:
        response = send(
            self.stack["SHOPIFY_WEBHOOK_URL"],
            shop=self.stack["SHOPIFY_SHOP_DOMAIN"],
            secret=self.stack["SHOPIFY_API_SECRET"],
            topic="orders/create",
            payload=payload,
            webhook_id=webhook_id,
        )
        assert response.status_code == 200
        return response.text.strip()

    def rows(self, order_id: str, until: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The order's notifications to this test's managers, once ``until`` holds for them
        (tests running beside add managers of their own to the list)."""
        return self.mine(
            self.crm.wait_for(
                "SELECT manager_id, status, manychat_code, attempt FROM {ds}.notifications "
                "WHERE order_id = @o ORDER BY attempted_at",
                lambda rows: until(self.mine(rows)),
                timeout=timeout,
                o=order_id,
            )
        )

    def mine(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if r["manager_id"] in self.managers]


@pytest.fixture
def e2e(stack: dict[str, str], stack_crm: Crm, stack_managers: list[str]) -> E2E:
    """Two fresh managers in the stack's settings/managers (put back afterwards)."""
    return E2E(stack, stack_crm, stack_managers)


def new_order() -> dict[str, Any]:
    order_id = uuid.uuid4().int % 10**13
    return {**fixture("order"), "id": order_id, "name": f"#E{order_id % 10000}"}


def sent_to_all(managers: list[str]) -> Any:
    return lambda rows: (
        sorted(r["manager_id"] for r in rows if r["status"] == "sent") == sorted(managers)
    )


def about(calls: list[dict[str, Any]], *orders: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls about these orders (their ids are in each message's link): other
    end-to-end tests' orders, running beside, reach these managers too."""
    ids = [f"/orders/{o['id']}" for o in orders]
    return [c for c in calls if any(i in json.dumps(c["body"]) for i in ids)]


def stays(check: Any, seconds: float = 3.0) -> bool:
    """True if ``check()`` keeps holding for ``seconds`` (a redelivery would break it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.25)
    return True


def test_one_shopify_order_two_managers_two_messages_once(e2e: E2E):
    order = new_order()
    webhook_id = str(uuid.uuid4())
    assert e2e.webhook(order, webhook_id) == "accepted"
    rows = e2e.rows(str(order["id"]), sent_to_all(e2e.managers))
    assert sorted((r["manager_id"], r["status"]) for r in rows) == sorted(
        (m, "sent") for m in e2e.managers
    )
    for manager in e2e.managers:
        [call] = about(e2e.standin.delivered(manager), order)
        message = call["body"]["data"]["content"]["messages"][0]
        assert "New order" in message["text"]
        assert message["buttons"][0]["url"] == (
            f"https://{e2e.stack['SHOPIFY_SHOP_DOMAIN']}/admin/orders/{order['id']}"
        )

    # The same webhook again (Shopify retries with the same webhook id) ...
    assert e2e.webhook(order, webhook_id) == "duplicate"
    # ... and the same body under a new webhook id: recognised by its hash.
    assert e2e.webhook(order) == "duplicate"
    # A marker order sent afterwards reaches both managers: the notifier has had the
    # repeated delivery by then. Then watch a few backoff periods for a late redelivery.
    marker = new_order()
    assert e2e.webhook(marker) == "accepted"
    e2e.rows(str(marker["id"]), sent_to_all(e2e.managers))
    assert stays(
        lambda: all(len(about(e2e.standin.calls(m), order, marker)) == 2 for m in e2e.managers)
    )
    assert (
        len(
            e2e.mine(
                e2e.crm.query(
                    "SELECT manager_id FROM {ds}.notifications WHERE order_id = @o",
                    o=str(order["id"]),
                )
            )
        )
        == 2
    )


def test_500_twice_then_200_still_one_message_per_manager(e2e: E2E):
    for manager in e2e.managers:
        e2e.standin.script(manager, "500", times=2)
    order = new_order()
    e2e.webhook(order)
    rows = e2e.rows(str(order["id"]), sent_to_all(e2e.managers), timeout=60)
    for manager in e2e.managers:
        assert [r["status"] for r in rows if r["manager_id"] == manager] == [
            "retrying",
            "retrying",
            "sent",
        ]
        assert len(about(e2e.standin.delivered(manager), order)) == 1
        assert len(about(e2e.standin.calls(manager), order)) == 3


def test_3011_is_failed_and_not_retried_endlessly(e2e: E2E):
    closed, open_ = e2e.managers
    e2e.standin.script(closed, "3011", times=10)
    order = new_order()
    e2e.webhook(order)
    rows = e2e.rows(str(order["id"]), lambda rows: len(rows) >= 2)
    assert sorted((r["manager_id"], r["status"], r["manychat_code"]) for r in rows) == sorted(
        [(closed, "failed", 3011), (open_, "sent", None)]
    )
    assert stays(lambda: len(about(e2e.standin.calls(closed), order)) == 1)


def test_dead_lettered_notification_is_replayed_after_the_fix(e2e: E2E):
    from devstack.deadletters import DeadLetters

    broken, fine = e2e.managers
    e2e.standin.script(broken, "500", times=50)  # ManyChat "down" for this manager
    order = new_order()
    e2e.webhook(order)
    tool = DeadLetters(e2e.stack["GOOGLE_CLOUD_PROJECT"])
    deadline = time.monotonic() + 60
    letter = None
    while letter is None and time.monotonic() < deadline:
        letters = tool.pull_all(["notifier-dead-letter"])
        letter = next((x for x in letters if str(order["id"]) in x.data.decode()), None)
        tool.release(x for x in letters if x is not letter)
        if letter is None:
            time.sleep(1)
    assert letter is not None, "the notifier's message never reached its dead-letter topic"
    assert letter.source_subscription == "notifier"
    assert len(about(e2e.standin.delivered(broken), order)) == 0

    e2e.standin.script(broken, "500", times=0)  # the fix: ManyChat answers again
    tool.replay(letter)
    rows = e2e.rows(
        str(order["id"]),
        lambda rows: any(r["manager_id"] == broken and r["status"] == "sent" for r in rows),
    )
    assert any(r["manager_id"] == broken and r["status"] == "sent" for r in rows)
    assert len(about(e2e.standin.delivered(broken), order)) == 1
    assert len(about(e2e.standin.delivered(fine), order)) == 1


def test_unreadable_shopify_order_alerts_the_managers(e2e: E2E):
    broken = {k: v for k, v in new_order().items() if k != "currency"}
    assert e2e.webhook(broken) == "quarantined"
    for manager in e2e.managers:
        # (the alert about this order: other tests' messages reach these managers too)
        calls = e2e.standin.wait_for(manager, lambda calls: len(unreadable(calls)) >= 1)
        [call] = unreadable(calls)
        text = call["body"]["data"]["content"]["messages"][0]["text"]
        assert "could not be read" in text and "order has no currency" in text


def unreadable(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if "order has no currency" in json.dumps(c["body"])]
