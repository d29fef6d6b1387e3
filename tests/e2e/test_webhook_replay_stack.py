"""The replayed topic swap on the running stack: a captured, signed customers/update body
resent as customers/delete with X-Shopify-Triggered-At far in the future must leave the
customer in the stack's `customers` view (issue 11). Each test uses fresh ids, and waits
for a marker sent after the replay, so the replay had its chance to land."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import requests

from devstack.shopify_sender import fixture
from orderhub.shopify_webhook.receive import signature
from tests.conftest import Crm


def send(stack: dict[str, str], topic: str, payload: dict[str, Any], triggered_at: str) -> str:
    body = json.dumps(payload).encode()
    response = requests.post(
        stack["SHOPIFY_WEBHOOK_URL"],
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": stack["SHOPIFY_SHOP_DOMAIN"],
            "X-Shopify-Hmac-Sha256": signature(stack["SHOPIFY_API_SECRET"], body),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": triggered_at,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.text.strip()


def fresh(name: str) -> dict[str, Any]:
    return {**fixture(name), "id": random.randrange(10**15, 10**16)}


def test_replayed_customer_update_as_far_future_delete_keeps_the_customer(
    stack: dict[str, str], stack_crm: Crm
) -> None:
    customer, marker = fresh("customer"), fresh("customer")
    assert send(stack, "customers/update", customer, "2026-01-01T00:00:00Z") == "accepted"
    assert send(stack, "customers/delete", customer, "2099-12-31T23:59:59Z") == "quarantined"
    assert send(stack, "customers/create", marker, "2026-01-01T00:00:00Z") == "accepted"

    ids = [str(customer["id"]), str(marker["id"])]
    rows = stack_crm.wait_for(
        "SELECT customer_id FROM {ds}.customers WHERE customer_id IN UNNEST(SPLIT(@ids, ','))",
        until=lambda rows: str(marker["id"]) in {r["customer_id"] for r in rows},
        ids=",".join(ids),
    )
    assert sorted(r["customer_id"] for r in rows) == sorted(ids)


def test_replayed_product_update_as_far_future_delete_keeps_the_product(
    stack: dict[str, str], stack_crm: Crm
) -> None:
    product, marker = fresh("product"), fresh("product")
    assert send(stack, "products/update", product, "2026-01-01T00:00:00Z") == "accepted"
    assert send(stack, "products/delete", product, "2099-12-31T23:59:59Z") == "quarantined"
    assert send(stack, "products/create", marker, "2026-01-01T00:00:00Z") == "accepted"

    rows = stack_crm.wait_for(
        "SELECT DISTINCT product_id FROM {ds}.products "
        "WHERE product_id IN UNNEST(SPLIT(@ids, ','))",
        until=lambda rows: str(marker["id"]) in {r["product_id"] for r in rows},
        ids=f"{product['id']},{marker['id']}",
    )
    assert sorted(r["product_id"] for r in rows) == sorted([str(product["id"]), str(marker["id"])])
