"""Reconciliation on the running stack: what webhooks missed arrives once, and only once."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import requests

from devstack import dataset
from devstack.shopify_sender import fixture, send
from tests.conftest import Crm


@pytest.fixture
def stack_crm(stack):
    client = dataset.bigquery_client(stack["GOOGLE_CLOUD_PROJECT"], stack["BIGQUERY_EMULATOR_HOST"])
    return Crm(client, stack["BIGQUERY_DATASET"])


def recent_order(minutes_ago: int = 5) -> dict:
    stamp = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)
    return {
        **fixture("order"),
        "id": random.randrange(10**15, 10**16),
        "created_at": stamp.isoformat(),
        "updated_at": stamp.isoformat(),
    }


def seed(stack, order):
    response = requests.post(
        f"{stack['SHOPIFY_ADMIN_URL']}/_standin/shop/orders", json=order, timeout=10
    )
    assert response.status_code == 201


def reconcile(stack) -> dict:
    response = requests.post(stack["SHOPIFY_RECONCILE_URL"], timeout=120)
    assert response.status_code == 200, response.text
    return {s["resource"]: s for s in response.json()["reconciled"]}


def rows(crm, order_id):
    """Rows of this order in order_events: every publish that reached the CRM is one."""
    return crm.query(
        "SELECT COUNT(*) AS events, COUNT(DISTINCT version) AS versions "
        "FROM {ds}.order_events WHERE order_id = @id",
        id=order_id,
    )[0]


def webhook(stack, order):
    response = send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=stack["SHOPIFY_SHOP_DOMAIN"],
        secret=stack["SHOPIFY_API_SECRET"],
        topic="orders/create",
        payload=order,
    )
    assert response.status_code == 200


def settle(stack, crm):
    """Send a marker order by webhook and wait for it: whatever was published before it
    has had its chance to land too."""
    marker = recent_order()
    webhook(stack, marker)
    crm.wait_for(
        "SELECT 1 FROM {ds}.orders WHERE order_id = @id", lambda r: r, id=str(marker["id"])
    )


def test_a_missed_order_arrives_and_a_webhooked_one_is_not_sent_again(stack, stack_crm):
    missed, webhooked = recent_order(), recent_order()
    webhook(stack, webhooked)
    query = "SELECT order_id FROM {ds}.orders WHERE order_id = @id"
    assert stack_crm.wait_for(query, lambda r: r, id=str(webhooked["id"]))
    seed(stack, missed)
    seed(stack, webhooked)

    reconcile(stack)
    assert stack_crm.wait_for(query, lambda r: r, id=str(missed["id"]))
    settle(stack, stack_crm)
    assert rows(stack_crm, str(webhooked["id"])) == {"events": 1, "versions": 1}
    assert rows(stack_crm, str(missed["id"])) == {"events": 1, "versions": 1}

    # A later run publishes neither again: the cursor moved and the versions match.
    reconcile(stack)
    settle(stack, stack_crm)
    assert rows(stack_crm, str(missed["id"])) == {"events": 1, "versions": 1}
    assert rows(stack_crm, str(webhooked["id"])) == {"events": 1, "versions": 1}


def test_an_update_the_webhooks_missed_is_applied(stack, stack_crm):
    order = recent_order(minutes_ago=10)
    seed(stack, order)
    reconcile(stack)
    query = "SELECT status FROM {ds}.orders WHERE order_id = @id"
    assert stack_crm.wait_for(query, lambda r: r, id=str(order["id"]))[0]["status"] == "authorized"
    later = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0).isoformat()
    seed(stack, {**order, "financial_status": "paid", "updated_at": later})
    reconcile(stack)
    rows_after = stack_crm.wait_for(
        query, lambda r: r and r[0]["status"] == "paid", id=str(order["id"])
    )
    assert rows_after[0]["status"] == "paid"
