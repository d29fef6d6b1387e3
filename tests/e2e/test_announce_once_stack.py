"""On the running stack: a reconcile run racing a late webhook tells each manager once.

Issue 13 item 7. Reconcile publishes ``order.created`` at the version it reads from the
shop (later than the webhook's, once the order was paid), so the webhook's event and
reconcile's are two events with two ids; the managers must still hear of the order once.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from devstack.shopify_sender import fixture, send
from tests.conftest import Crm
from tests.e2e.test_notifier_e2e import stays
from tests.manychat import StandIn


def stamp(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


def fresh_order(**changes: Any) -> dict[str, Any]:
    order_id = random.randrange(10**15, 10**16)
    created = stamp(10)
    return {
        **fixture("order"),
        "id": order_id,
        "name": f"#R{order_id % 100000}",
        "created_at": created,
        "updated_at": created,
        **changes,
    }


def seed(stack: dict[str, str], order: dict[str, Any]) -> None:
    response = requests.post(
        f"{stack['SHOPIFY_ADMIN_URL']}/_standin/shop/orders", json=order, timeout=10
    )
    assert response.status_code == 201


def reconcile(stack: dict[str, str]) -> None:
    response = requests.post(stack["SHOPIFY_RECONCILE_URL"], timeout=120)
    assert response.status_code == 200, response.text


def webhook(stack: dict[str, str], order: dict[str, Any], topic: str = "orders/create") -> None:
    response = send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=stack["SHOPIFY_SHOP_DOMAIN"],
        secret=stack["SHOPIFY_API_SECRET"],
        topic=topic,
        payload=order,
    )
    assert response.status_code == 200, response.text


def versions(crm: Crm, order_id: str, count: int) -> list[dict[str, Any]]:
    return crm.wait_for(
        "SELECT event_type, version FROM {ds}.order_events WHERE order_id = @id",
        lambda rows: len({r["version"] for r in rows}) >= count,
        id=order_id,
    )


def told(standin: StandIn, manager: str, name: str, words: str) -> list[dict[str, Any]]:
    """Messages to ``manager`` about order ``name`` that contain ``words``."""
    return [
        call
        for call in standin.delivered(manager)
        if name in str(call["body"]) and words in str(call["body"])
    ]


def told_once(standin: StandIn, managers: list[str], name: str, words: str) -> bool:
    for manager in managers:
        standin.wait_for(manager, lambda calls: any(name in str(c["body"]) for c in calls))
    return stays(
        lambda: all(len(told(standin, m, name, words)) == 1 for m in managers), seconds=4.0
    )


def test_reconcile_then_a_late_webhook_announce_the_order_once(
    stack: dict[str, str], stack_crm: Crm, stack_managers: list[str]
):
    order = fresh_order()
    paid = {**order, "financial_status": "paid", "updated_at": stamp(2)}
    seed(stack, paid)  # the webhook of the create is late; the shop already has it paid
    reconcile(stack)  # publishes order.created at the paid version
    webhook(stack, order)  # the late orders/create, at the created version
    rows = versions(stack_crm, str(order["id"]), 2)
    assert {r["event_type"] for r in rows} == {"order.created"}  # two events, two ids

    assert told_once(StandIn(stack["MANYCHAT_API_URL"]), stack_managers, order["name"], "New order")
    assert (
        len(stack_crm.query("SELECT 1 FROM {ds}.orders WHERE order_id = @id", id=str(order["id"])))
        == 1
    )


def test_reconcile_racing_a_late_webhook_announces_the_order_once(
    stack: dict[str, str], stack_crm: Crm, stack_managers: list[str]
):
    order = fresh_order()
    seed(stack, {**order, "financial_status": "paid", "updated_at": stamp(2)})
    runs = [
        threading.Thread(target=reconcile, args=(stack,)),
        threading.Thread(target=webhook, args=(stack, order)),
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    versions(stack_crm, str(order["id"]), 2)
    assert told_once(StandIn(stack["MANYCHAT_API_URL"]), stack_managers, order["name"], "New order")


def test_a_cancelled_order_updated_later_is_announced_cancelled_once(
    stack: dict[str, str], stack_crm: Crm, stack_managers: list[str]
):
    order = fresh_order()
    cancelled_at = stamp(5)
    cancelled = {
        **order,
        "cancelled_at": cancelled_at,
        "cancel_reason": "customer",
        "updated_at": cancelled_at,
    }
    seed(stack, cancelled)
    reconcile(stack)  # the cancellation the webhooks missed
    versions(stack_crm, str(order["id"]), 1)
    seed(stack, {**cancelled, "note": "refund by bank transfer", "updated_at": stamp(1)})
    reconcile(stack)  # the cancelled order, updated later: order.cancelled again
    rows = versions(stack_crm, str(order["id"]), 2)
    assert {r["event_type"] for r in rows} == {"order.cancelled"}
    assert told_once(StandIn(stack["MANYCHAT_API_URL"]), stack_managers, order["name"], "cancelled")


def test_the_first_reconcile_does_not_announce_orders_of_days_ago(
    stack: dict[str, str], stack_crm: Crm, stack_managers: list[str]
):
    old = fresh_order(created_at=stamp(3 * 24 * 60), updated_at=stamp(3))
    recent = fresh_order()
    seed(stack, old)
    seed(stack, recent)
    reconcile(stack)
    versions(stack_crm, str(old["id"]), 1)  # recorded
    standin = StandIn(stack["MANYCHAT_API_URL"])
    assert told_once(standin, stack_managers, recent["name"], "New order")
    assert all(told(standin, m, old["name"], "") == [] for m in stack_managers)
