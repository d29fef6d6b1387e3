"""Replayed and oversized webhook bodies, through shopify_webhook and crm_writer (both
functions-framework test clients) against the Pub/Sub, Firestore and BigQuery emulators.

The attack (issue 11): Shopify signs the body but not the topic, the webhook id or
``X-Shopify-Triggered-At``. Whoever captured one signed ``customers/update`` body could
resend it as ``customers/delete`` with a trigger time far in the future, and the customer
would leave the ``customers`` view for good. The same for products and orders.
"""

import io
import json
import os
import uuid

import pytest
from functions_framework import create_app

from devstack.shopify_sender import fixture
from orderhub.shopify_webhook.receive import signature
from tests.conftest import ROOT, cloud_event, post_cloud_event

SHOP, SECRET = "replay-shop.myshopify.com", "replay-secret"
FAR_FUTURE = "2099-12-31T23:59:59Z"


@pytest.fixture
def pipeline(crm, topic):
    """The webhook publishing to a fresh topic, and a way to hand what it published to
    crm_writer (writing to the test's own dataset)."""
    os.environ.update(
        {
            "ORDER_EVENTS_TOPIC": topic.name,
            "SHOPIFY_WEBHOOK_SECRETS": json.dumps({SHOP: SECRET}),
            "FIRESTORE_PREFIX": f"{uuid.uuid4().hex[:8]}-",
            "WEBHOOK_MAX_BODY_BYTES": "200000",
        }
    )
    main = str(ROOT / "functions" / "main.py")
    webhook = create_app("shopify_webhook", main, "http").test_client()
    writer = create_app("crm_writer", main, "cloudevent").test_client()

    def send(topic_name: str, payload: dict, *, triggered_at: str = FAR_FUTURE) -> str:
        body = json.dumps(payload).encode()
        response = webhook.post(
            "/",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic_name,
                "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-Hmac-Sha256": signature(SECRET, body),
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),  # a fresh id on every replay
                "X-Shopify-Triggered-At": triggered_at,
            },
        )
        assert response.status_code == 200, response.text
        for message in topic.pull(expect=1):
            answer = post_cloud_event(writer, cloud_event(message.data))
            assert answer.status_code == 200, answer.text
        return response.text.strip()

    send.webhook = webhook  # type: ignore[attr-defined]
    return send


def quarantined(crm) -> list[str]:
    return [r["reason"] for r in crm.query("SELECT reason FROM {ds}.quarantine")]


def test_replayed_customer_update_as_delete_leaves_the_customer_in_customers(pipeline, crm):
    customer = fixture("customer")
    assert pipeline("customers/update", customer) == "accepted"
    assert pipeline("customers/delete", customer) == "quarantined"

    rows = crm.query("SELECT customer_id, email FROM {ds}.customers")
    assert [(r["customer_id"], r["email"]) for r in rows] == [
        (str(customer["id"]), customer["email"])
    ]
    assert any("not a delete body" in reason for reason in quarantined(crm))


def test_replayed_product_update_as_delete_leaves_the_product_in_products(pipeline, crm):
    product = fixture("product")
    assert pipeline("products/update", product) == "accepted"
    assert pipeline("products/delete", product) == "quarantined"
    rows = crm.query("SELECT DISTINCT product_id FROM {ds}.products")
    assert [r["product_id"] for r in rows] == [str(product["id"])]


def test_replayed_order_as_delete_keeps_the_order_and_a_real_delete_removes_it(pipeline, crm):
    order = fixture("order")
    assert pipeline("orders/create", order) == "accepted"
    assert pipeline("orders/delete", order) == "quarantined"
    assert [r["order_id"] for r in crm.query("SELECT order_id FROM {ds}.orders")] == ["450789469"]

    # Shopify's own orders/delete body (the id only) does remove it, whatever the header says.
    assert pipeline("orders/delete", {"id": order["id"]}, triggered_at="2000-01-01T00:00:00Z") == (
        "accepted"
    )
    assert crm.query("SELECT order_id FROM {ds}.orders") == []


def test_a_genuine_customer_delete_still_removes_the_customer(pipeline, crm):
    customer = fixture("customer")
    pipeline("customers/create", customer)
    delete = {
        "id": customer["id"],
        "phone": None,
        "addresses": [],
        "admin_graphql_api_id": f"gid://shopify/Customer/{customer['id']}",
    }
    assert pipeline("customers/delete", delete) == "accepted"
    assert crm.query("SELECT customer_id FROM {ds}.customers") == []


def test_the_same_body_under_a_fresh_webhook_id_is_a_duplicate(pipeline, topic):
    order = fixture("order")
    assert pipeline("orders/updated", order) == "accepted"
    body = json.dumps(order).encode()
    again = pipeline.webhook.post(
        "/",
        data=body,
        headers={
            "X-Shopify-Topic": "orders/updated",
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Hmac-Sha256": signature(SECRET, body),
            "X-Shopify-Webhook-Id": "someone-elses-id",
        },
    )
    assert (again.status_code, again.text.strip()) == (200, "duplicate")
    assert topic.pull(expect=0, timeout=1.0) == []


def signed(body: bytes, shop: str = SHOP) -> dict[str, str]:
    return {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": signature(SECRET, body),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
    }


def test_a_body_over_the_limit_gets_413_and_nothing_is_published(pipeline, topic):
    body = json.dumps({**fixture("order"), "note": "x" * 300_000}).encode()
    response = pipeline.webhook.post("/", data=body, headers=signed(body))
    assert response.status_code == 413
    assert topic.pull(expect=0, timeout=1.0) == []


def test_a_body_of_no_stated_length_gets_413(pipeline, topic):
    body = json.dumps(fixture("order")).encode()
    response = pipeline.webhook.post(
        "/",
        input_stream=io.BytesIO(body),
        headers={**signed(body), "Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 413
    assert topic.pull(expect=0, timeout=1.0) == []


def test_an_unknown_shop_is_refused_before_its_body_is_judged(pipeline, topic):
    # The shop is checked first: a stranger announcing a gigabyte gets 401, not 413.
    body = json.dumps(fixture("order")).encode()
    response = pipeline.webhook.post(
        "/",
        input_stream=io.BytesIO(body),
        headers={**signed(body, shop="stranger.myshopify.com"), "Content-Length": str(10**9)},
    )
    assert response.status_code == 401
    assert topic.pull(expect=0, timeout=1.0) == []
