"""shopify_webhook through functions-framework, against the Pub/Sub and Firestore emulators."""

import json
import os

import pytest
from functions_framework import create_app
from google.cloud import firestore

from devstack.shopify_sender import fixture, headers
from orderhub.event import decode
from tests.conftest import ROOT, unique

SHOP, SECRET = "int-shop.myshopify.com", "int-secret"


@pytest.fixture
def webhook(emulators, topic):
    prefix = unique("t") + "-"
    os.environ.update(
        {
            "ORDER_EVENTS_TOPIC": topic.name,
            "SHOPIFY_WEBHOOK_SECRETS": json.dumps({SHOP: SECRET}),
            "FIRESTORE_PREFIX": prefix,
        }
    )
    app = create_app("shopify_webhook", str(ROOT / "functions" / "main.py"), "http")
    client = app.test_client()
    client.prefix = prefix
    return client


def post(client, body: bytes, **kw):
    kw.setdefault("topic", "orders/create")
    return client.post("/", data=body, headers=headers(shop=SHOP, secret=SECRET, body=body, **kw))


def claims(prefix: str) -> list[str]:
    db = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])
    return [doc.id for doc in db.collection(f"{prefix}webhook_claims").stream()]


def test_signed_order_is_published_once_per_webhook_id(webhook, topic):
    body = json.dumps(fixture("order")).encode()
    first = post(webhook, body, webhook_id="wh-1")
    again = post(webhook, body, webhook_id="wh-1")
    assert (first.status_code, first.text.strip()) == (200, "accepted")
    assert (again.status_code, again.text.strip()) == (200, "duplicate")
    messages = topic.pull(expect=1)
    assert len(messages) == 1
    event = decode(messages[0].data)
    assert event["entity_id"] == "450789469" and event["event_type"] == "order.created"
    assert messages[0].attributes["source"] == "shopify"
    (claim,) = claims(webhook.prefix)  # one delivery: the shop and its body's hash
    assert claim.startswith(f"shopify:{SHOP}:")


def test_forged_signature_gets_401_and_leaves_no_trace(webhook, topic):
    body = json.dumps(fixture("order")).encode()
    forged = headers(shop=SHOP, secret="guess", topic="orders/create", body=body)
    response = webhook.post("/", data=body, headers=forged)
    assert response.status_code == 401
    assert topic.pull(expect=0, timeout=1.0) == []
    assert claims(webhook.prefix) == []


def test_lowercase_shopify_header_form_is_accepted(webhook, topic):
    body = json.dumps(fixture("customer")).encode()
    hdrs = {
        k.replace("X-Shopify-", "shopify-").lower(): v
        for k, v in headers(shop=SHOP, secret=SECRET, topic="customers/create", body=body).items()
    }
    assert webhook.post("/", data=body, headers=hdrs).status_code == 200
    assert decode(topic.pull(expect=1)[0].data)["event_type"] == "customer.upserted"


def test_unparseable_authenticated_body_is_quarantined_and_answered_200(webhook, topic):
    response = post(webhook, b"{truncated", topic="orders/create")
    assert response.status_code == 200 and response.text.strip() == "quarantined"
    event = decode(topic.pull(expect=1)[0].data)
    assert event["event_type"] == "payload.quarantined"
    assert event["raw"]["body"] == "{truncated"


def test_get_is_not_allowed(webhook):
    assert webhook.get("/").status_code == 405
