"""Issue 2's promise, on the running stack: a signed webhook becomes one row in `orders`."""

import random

import pytest
import requests

from devstack import dataset
from devstack.shopify_sender import fixture, headers, send
from tests.conftest import Crm


@pytest.fixture
def stack_crm(stack):
    client = dataset.bigquery_client(stack["GOOGLE_CLOUD_PROJECT"], stack["BIGQUERY_EMULATOR_HOST"])
    return Crm(client, stack["BIGQUERY_DATASET"])


def new_order() -> dict:
    order = fixture("order")
    order["id"] = random.randrange(10**15, 10**16)  # a fresh order, Shopify-sized id
    return order


def send_signed(stack, topic, payload, **kw):
    return send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=stack["SHOPIFY_SHOP_DOMAIN"],
        secret=stack["SHOPIFY_API_SECRET"],
        topic=topic,
        payload=payload,
        **kw,
    )


def versions(crm, order_id):
    return crm.query(
        "SELECT COUNT(*) AS n FROM {ds}.order_events WHERE order_id = @id",
        id=order_id,
    )[0]["n"]


def test_signed_order_appears_once_and_cancellation_shows(stack, stack_crm):
    order = new_order()
    order_id = str(order["id"])
    response = send_signed(stack, "orders/create", order, webhook_id=f"e2e-{order_id}")
    assert response.status_code == 200

    rows = stack_crm.wait_for(
        "SELECT order_id, status FROM {ds}.orders WHERE order_id = @id", lambda r: r, id=order_id
    )
    assert [(r["order_id"], r["status"]) for r in rows] == [(order_id, "authorized")]

    again = send_signed(stack, "orders/create", order, webhook_id=f"e2e-{order_id}")
    assert again.text.strip() == "duplicate"
    assert versions(stack_crm, order_id) == 1

    cancelled = {
        **order,
        "cancelled_at": "2008-01-10T13:00:00-05:00",
        "updated_at": "2008-01-10T13:00:00-05:00",
    }
    assert send_signed(stack, "orders/cancelled", cancelled).status_code == 200
    rows = stack_crm.wait_for(
        "SELECT status FROM {ds}.orders WHERE order_id = @id",
        lambda r: r and r[0]["status"] == "cancelled",
        id=order_id,
    )
    assert rows[0]["status"] == "cancelled"
    assert len(stack_crm.query("SELECT 1 FROM {ds}.orders WHERE order_id = @id", id=order_id)) == 1


def test_forged_webhook_gets_401_and_no_row(stack, stack_crm):
    order = new_order()
    body = repr(order).encode()
    forged = headers(
        shop=stack["SHOPIFY_SHOP_DOMAIN"], secret="not-the-secret", topic="orders/create", body=body
    )
    response = requests.post(stack["SHOPIFY_WEBHOOK_URL"], data=body, headers=forged, timeout=10)
    assert response.status_code == 401
    # Give a wrongly accepted message time to travel before asserting absence.
    control = new_order()
    assert send_signed(stack, "orders/create", control).status_code == 200
    stack_crm.wait_for(
        "SELECT 1 FROM {ds}.orders WHERE order_id = @id", lambda r: r, id=str(control["id"])
    )
    assert (
        stack_crm.query(
            "SELECT 1 FROM {ds}.raw_events WHERE STRPOS(body, @id) > 0", id=str(order["id"])
        )
        == []
    )
