"""Issue 22: a manager's actions reach the order in Shopify (on the emulators, against the
Shopify stand-in): shipped → a fulfilment of its fulfilment orders with the tracking info,
paid → ``orderMarkAsPaid``, cancelled → ``orderCancel``; each once, however often it is
delivered; comments and the other steps write nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orderhub.event import Event
from orderhub.order_form import actions
from orderhub.sources import manual
from tests.integration.test_shopify_sync import SHOP, Env, env, form_order

__all__ = ["env"]  # the fixture, shared with test_shopify_sync


def action(order: Event, **fields: Any) -> Event:
    kind = fields.pop("kind", "status")
    return actions.action_event(
        actions.Action(kind, **fields),
        order=actions.OrderKey(order["source"], order["shop"], order["entity_id"]),
        manager="maria",
        manager_name="Maria",
        token=manual.new_form_token(datetime.now(UTC)),
        at=datetime.now(UTC),
    )


def test_shipped_paid_and_cancelled_reach_the_shopify_order_once(env: Env) -> None:
    env.switches(SHOP, **{"outbound.orders": "on"})
    created = form_order()
    assert env.post(created) == 200
    [order] = env.orders()
    writes = env.standins[SHOP].writes
    order_id = created["entity_id"]

    # Comments and confirmed/packed have no place in Shopify: nothing written, nothing logged.
    for quiet in (
        action(created, kind="comment", text="gift wrap"),
        action(created, status="confirmed"),
    ):
        assert env.post(quiet) == 200
    assert "fulfillmentCreate" not in writes.counts

    shipped = action(
        created, status="shipped", tracking_number="RR123456785PT", tracking_company="CTT"
    )
    assert env.post(shipped) == 200
    assert env.post(shipped) == 200  # redelivered: one fulfilment
    [fulfilment] = writes.fulfilments
    assert fulfilment["orderId"] == order["admin_graphql_api_id"]
    assert fulfilment["trackingInfo"] == [{"number": "RR123456785PT", "company": "CTT"}]
    assert fulfilment["notifyCustomer"] is True  # Shopify e-mails the customer
    assert order["fulfillment_status"] == "fulfilled"
    assert writes.counts["fulfillmentCreate"] == 1
    status = env.status(order_id, entity="order_fulfil")
    assert status["status"] == "synced" and "CTT RR123456785PT" in status["reason"]

    paid = action(created, kind="paid")
    assert env.post(paid) == 200 and env.post(paid) == 200
    assert order["financial_status"] == "paid" and writes.counts["orderMarkAsPaid"] == 1

    cancelled = action(created, status="cancelled", cancel_reason="customer")
    assert env.post(cancelled) == 200 and env.post(cancelled) == 200
    assert order["cancelled_at"] and order["cancel_reason"] == "customer"
    assert writes.counts["orderCancel"] == 1
    assert env.status(order_id, entity="order_cancel")["status"] == "synced"


def test_an_action_on_an_order_not_in_shopify_says_so_and_writes_nothing(env: Env) -> None:
    env.switches(SHOP, **{"outbound.orders": "off"})
    created = form_order()
    shipped = action(created, status="shipped", tracking_number="X1")
    assert env.post(shipped) == 200
    assert env.standins[SHOP].writes.fulfilments == []
    assert "switched off" in env.status(created["entity_id"], entity="order_fulfil")["reason"]
