"""On the running stack: a missed refund and a missed delete reach the CRM through the
hourly reconcile (issue 13 items 8 and 9)."""

from __future__ import annotations

import random

import requests

from devstack.shopify_sender import fixture, send
from tests.conftest import Crm
from tests.e2e.test_announce_once_stack import fresh_order, reconcile, seed, stamp


def test_a_missed_refund_is_reconciled_in_the_shops_currency(stack: dict[str, str], stack_crm: Crm):
    order = fresh_order(currency="CAD", presentment_currency="EUR", total_price="100.00")
    refund = {
        **fixture("refund"),
        "id": random.randrange(10**12, 10**13),
        "order_id": order["id"],
        "created_at": stamp(3),
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "27.00", "currency": "EUR"}
        ],
        "total_refunded_set": {
            "shop_money": {"amount": "40.00", "currency_code": "CAD"},
            "presentment_money": {"amount": "27.00", "currency_code": "EUR"},
        },
    }
    seed(stack, {**order, "updated_at": stamp(3), "refunds": [refund]})  # no webhook came
    reconcile(stack)
    row = stack_crm.wait_for(
        "SELECT refunded, status FROM {ds}.orders WHERE order_id = @id",
        lambda rows: rows and str(rows[0]["refunded"]) == "40.000000000",
        id=str(order["id"]),
    )[0]
    assert row["status"] == "partially_refunded"
    lines = stack_crm.query(
        "SELECT COUNT(*) AS n FROM {ds}.refund_events WHERE refund_id = @id", id=str(refund["id"])
    )
    assert lines[0]["n"] == 1


def test_a_product_deleted_without_its_webhook_leaves_the_catalogue(
    stack: dict[str, str], stack_crm: Crm
):
    product = {**fixture("product"), "id": random.randrange(10**12, 10**13), "updated_at": stamp(2)}
    response = send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=stack["SHOPIFY_SHOP_DOMAIN"],
        secret=stack["SHOPIFY_API_SECRET"],
        topic="products/create",
        payload=product,
    )
    assert response.status_code == 200
    query = "SELECT product_id FROM {ds}.products WHERE product_id = @id"
    stack_crm.wait_for(query, lambda rows: rows, id=str(product["id"]))
    # Shopify deletes it; the products/delete webhook never arrives.
    gone = requests.delete(
        f"{stack['SHOPIFY_ADMIN_URL']}/_standin/shop/products/{product['id']}", timeout=10
    )
    assert gone.status_code == 200
    reconcile(stack)
    assert stack_crm.wait_for(query, lambda rows: rows == [], id=str(product["id"])) == []
