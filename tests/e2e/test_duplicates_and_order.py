"""Duplicates and out-of-order webhooks on the running stack: one order, newest state,
each manager told once.

Shopify delivers at least once and unordered. These tests post signed webhooks to the
stack's own ``shopify_webhook`` and read the stack's ``orders`` view, the way an analyst
would, and its ``notifications`` table and the ManyChat stand-in, the way a manager would
notice. Each uses fresh order ids and two fresh managers, so it never sees another test's
rows or messages. Every test ends by waiting for a *marker* order posted after the
deliveries under test (and for its messages), so a late duplicate would have had its
chance to arrive before the counts are taken.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack import shopify_sender
from tests.faults import new_order
from tests.manychat import StandIn


class StackCrm:
    """The stack's own dataset, queried as in ``Crm`` (``{ds}``, @parameters)."""

    def __init__(self, stack: dict[str, str]) -> None:
        from devstack import dataset

        self.client = dataset.bigquery_client(
            stack["GOOGLE_CLOUD_PROJECT"], stack["BIGQUERY_EMULATOR_HOST"]
        )
        self.dataset = stack["BIGQUERY_DATASET"]

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        from tests.conftest import Crm

        return Crm(self.client, self.dataset).query(sql, **params)

    def wait_for_orders(self, ids: list[str], timeout: float = 20) -> list[dict[str, Any]]:
        from tests.conftest import Crm

        return Crm(self.client, self.dataset).wait_for(
            "SELECT order_id, financial_status, version, event_id FROM {ds}.orders "
            "WHERE order_id IN UNNEST(SPLIT(@ids, ','))",
            until=lambda rows: {r["order_id"] for r in rows} >= set(ids),
            timeout=timeout,
            ids=",".join(ids),
        )

    def wait_for_events(self, order_id: str, count: int, timeout: float = 20) -> None:
        from tests.conftest import Crm

        Crm(self.client, self.dataset).wait_for(
            "SELECT DISTINCT event_id FROM {ds}.order_events WHERE order_id = @id",
            until=lambda rows: len(rows) >= count,
            timeout=timeout,
            id=order_id,
        )

    def events_of_version(self, order_id: str) -> list[int]:
        rows = self.query(
            "SELECT DISTINCT version FROM {ds}.order_events WHERE order_id = @id", id=order_id
        )
        return [r["version"] for r in rows]

    def notifications(self, order_id: str, managers: list[str]) -> list[tuple[str, str, str]]:
        """The order's notifications to ``managers`` (tests running beside add managers of
        their own to the list)."""
        rows = self.query(
            "SELECT manager_id, status, event_type FROM {ds}.notifications WHERE order_id = @id",
            id=order_id,
        )
        return sorted(
            (r["manager_id"], r["status"], r["event_type"])
            for r in rows
            if r["manager_id"] in managers
        )

    def wait_told(self, order_id: str, managers: list[str], timeout: float = 30) -> None:
        from tests.conftest import Crm

        Crm(self.client, self.dataset).wait_for(
            "SELECT manager_id FROM {ds}.notifications WHERE order_id = @id AND status = 'sent'",
            until=lambda rows: {r["manager_id"] for r in rows} >= set(managers),
            timeout=timeout,
            id=order_id,
        )

    def events_of(self, order_id: str) -> dict[str, int]:
        rows = self.query(
            "SELECT event_id, COUNT(*) AS n FROM {ds}.order_events WHERE order_id = @id "
            "GROUP BY event_id",
            id=order_id,
        )
        return {r["event_id"]: r["n"] for r in rows}


@pytest.fixture
def shop(stack: dict[str, str]) -> Iterator[Any]:
    session = requests.Session()

    def post(topic: str, payload: dict[str, Any], webhook_id: str | None = None) -> str:
        response = shopify_sender.send(
            stack["SHOPIFY_WEBHOOK_URL"],
            shop=stack["SHOPIFY_SHOP_DOMAIN"],
            secret=stack["SHOPIFY_API_SECRET"],
            topic=topic,
            payload=payload,
            webhook_id=webhook_id or str(uuid.uuid4()),
            session=session,
        )
        assert response.status_code == 200, response.text
        return response.text.strip()

    yield post
    session.close()


def messages(stack: dict[str, str], manager: str, *orders: dict[str, Any]) -> list[str]:
    """The messages ``manager`` got about these orders (their ids are in each message's
    link): other end-to-end tests' orders, running beside, reach these managers too."""
    calls = StandIn(stack["MANYCHAT_API_URL"]).delivered(manager)
    ids = [f"/orders/{o['id']}" for o in orders]
    return [
        c["body"]["data"]["content"]["messages"][0]["text"]
        for c in calls
        if any(i in json.dumps(c["body"]) for i in ids)
    ]


def test_same_delivery_three_times_is_one_order_one_event(
    stack: dict[str, str], shop: Any, stack_managers: list[str]
) -> None:
    crm = StackCrm(stack)
    order, webhook_id = new_order(), str(uuid.uuid4())
    answers = [shop("orders/create", order, webhook_id) for _ in range(3)]
    marker = new_order()
    shop("orders/create", marker)

    assert answers == ["accepted", "duplicate", "duplicate"]
    rows = crm.wait_for_orders([str(order["id"]), str(marker["id"])])
    assert [r["order_id"] for r in rows if r["order_id"] == str(order["id"])] == [str(order["id"])]
    assert list(crm.events_of(str(order["id"])).values()) == [1]  # published once

    crm.wait_told(str(marker["id"]), stack_managers)
    # The notifier delivers several messages at once: the order's may land after the
    # marker's, so wait for them too (a second message would still show below).
    crm.wait_told(str(order["id"]), stack_managers)
    assert crm.notifications(str(order["id"]), stack_managers) == sorted(
        (m, "sent", "order.created") for m in stack_managers
    )
    for manager in stack_managers:  # the order and the marker, one message each
        texts = messages(stack, manager, order, marker)
        assert len(texts) == 2 and sum(order["name"] in t for t in texts) == 1


def test_same_update_under_three_webhook_ids_is_one_order_one_version(
    stack: dict[str, str], shop: Any, stack_managers: list[str]
) -> None:
    crm = StackCrm(stack)
    order = new_order(financial_status="paid", updated_at="2026-03-01T10:00:00-05:00")
    answers = [shop("orders/updated", order) for _ in range(3)]  # each its own webhook id
    marker = new_order()
    shop("orders/create", marker)

    # The same topic and body under new webhook ids: the webhook recognises the body.
    assert answers == ["accepted", "duplicate", "duplicate"]
    rows = crm.wait_for_orders([str(order["id"]), str(marker["id"])])
    mine = [r for r in rows if r["order_id"] == str(order["id"])]
    assert len(mine) == 1
    assert mine[0]["financial_status"] == "paid"
    # One version: all three deliveries carry the same event id, which the view collapses.
    assert list(crm.events_of(str(order["id"]))) == [mine[0]["event_id"]]

    # An update tells nobody (only new and cancelled orders do): once the marker's
    # messages are there, the update has none, and each manager has the marker's only.
    crm.wait_told(str(marker["id"]), stack_managers)
    assert crm.notifications(str(order["id"]), stack_managers) == []
    for manager in stack_managers:
        assert len(messages(stack, manager, order, marker)) == 1


def test_update_before_create_shows_the_newest_state(
    stack: dict[str, str], shop: Any, stack_managers: list[str]
) -> None:
    crm = StackCrm(stack)
    created = new_order(financial_status="pending", updated_at="2026-03-01T10:00:00-05:00")
    updated = {**created, "financial_status": "paid", "updated_at": "2026-03-01T10:05:00-05:00"}
    assert shop("orders/updated", updated) == "accepted"  # the newer delivery overtakes
    assert shop("orders/create", created) == "accepted"
    order_id = str(created["id"])

    # Once both versions are stored, the view must show the newer one.
    crm.wait_for_events(order_id, count=2)
    rows = crm.wait_for_orders([order_id])
    assert len(rows) == 1
    assert rows[0]["financial_status"] == "paid"
    versions = crm.events_of_version(order_id)
    assert len(versions) == 2
    assert rows[0]["version"] == max(versions)

    # The late create is still a new order to the managers: each told once.
    crm.wait_told(order_id, stack_managers)
    marker = new_order()
    shop("orders/create", marker)
    crm.wait_told(str(marker["id"]), stack_managers)
    assert crm.notifications(order_id, stack_managers) == sorted(
        (m, "sent", "order.created") for m in stack_managers
    )
    for manager in stack_managers:
        assert len(messages(stack, manager, created, marker)) == 2
