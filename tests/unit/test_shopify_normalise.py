"""Shopify payloads (real fixtures) → canonical events that satisfy schemas/event.v1.json."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from orderhub.errors import PoisonMessage
from orderhub.sources.shopify import TOPICS, Delivery, normalise
from tests.conftest import load_json

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "event.v1.json").read_text())
RAW = {
    "raw_id": "r1",
    "kind": "shopify_webhook",
    "received_at": "2026-01-01T00:00:00Z",
    "sha256": "00",
}


def delivery(topic: str) -> Delivery:
    return Delivery(
        topic=topic,
        shop="shop.myshopify.com",
        webhook_id="w1",
        event_id="e1",
        triggered_at="2026-01-02T03:04:05Z",
        received_at=datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
    )


def body(name: str) -> bytes:
    data = load_json(f"shopify/shopify_python_api__{name}.json")
    return json.dumps(data[name]).encode()


def test_order_becomes_a_valid_canonical_event():
    event = normalise(delivery("orders/create"), body("order"), RAW)
    jsonschema.validate(event, SCHEMA)
    order = event["entity"]
    assert event["event_type"] == "order.created"
    assert event["entity_id"] == order["order_id"] == "450789469"
    assert order["total"] == {"amount": "409.94", "currency": "USD"}
    assert order["total_presentment"]["currency"] == "USD"
    assert order["shipping_address"]["address1"] == "Chestnut Street 92"
    assert "address2" in order["shipping_address"]
    assert [line["sku"] for line in order["line_items"]] == [
        "IPOD2008GREEN",
        "IPOD2008RED",
        "IPOD2008BLACK",
    ]
    assert all(isinstance(line["product_id"], str) for line in order["line_items"])
    assert order["customer"]["name"] == "Bob Norman"
    # 2008-01-10T11:00:00-05:00 in ms since the epoch
    assert event["version"] == 1199980800000
    assert event["occurred_at"] == "2008-01-10T16:00:00.000Z"


def test_event_id_is_deterministic_and_differs_per_version():
    first = normalise(delivery("orders/updated"), body("order"), RAW)
    again = normalise(delivery("orders/updated"), body("order"), RAW)
    payload = json.loads(body("order"))
    payload["updated_at"] = "2008-01-10T12:00:00-05:00"
    newer = normalise(delivery("orders/updated"), json.dumps(payload).encode(), RAW)
    assert first["event_id"] == again["event_id"]
    assert newer["event_id"] != first["event_id"]
    assert newer["version"] > first["version"]


def test_large_ids_stay_exact_strings():
    payload = json.loads(body("order"))
    payload["id"] = 5678901234567890123  # beyond 2^53
    event = normalise(delivery("orders/create"), json.dumps(payload).encode(), RAW)
    assert event["entity_id"] == "5678901234567890123"


def test_tags_string_is_split():
    payload = json.loads(body("order"))
    payload["tags"] = "vip, wholesale ,  ,gift"
    event = normalise(delivery("orders/create"), json.dumps(payload).encode(), RAW)
    assert event["entity"]["tags"] == ["vip", "wholesale", "gift"]


def test_presentment_money_is_kept():
    payload = json.loads(body("order"))
    payload["presentment_currency"] = "EUR"
    payload["total_price_set"] = {
        "shop_money": {"amount": "409.94", "currency_code": "USD"},
        "presentment_money": {"amount": "377.15", "currency_code": "EUR"},
    }
    event = normalise(delivery("orders/create"), json.dumps(payload).encode(), RAW)
    assert event["entity"]["total"] == {"amount": "409.94", "currency": "USD"}
    assert event["entity"]["total_presentment"] == {"amount": "377.15", "currency": "EUR"}


def test_cancelled_order():
    payload = json.loads(body("order"))
    payload["cancelled_at"] = "2008-01-10T13:00:00-05:00"
    payload["updated_at"] = "2008-01-10T13:00:00-05:00"
    event = normalise(delivery("orders/cancelled"), json.dumps(payload).encode(), RAW)
    assert event["event_type"] == "order.cancelled"
    assert event["entity"]["cancelled_at"] == "2008-01-10T13:00:00-05:00"


def test_refund_customer_product():
    refund = normalise(delivery("refunds/create"), body("refund"), RAW)
    assert refund["event_type"] == "order.refunded"
    assert refund["entity"]["order_id"] == "450789469"
    assert refund["entity"]["amount"] == {"amount": "209.00", "currency": "USD"}

    customer = normalise(delivery("customers/update"), body("customer"), RAW)
    assert customer["entity"]["customer_id"] == "207119551"
    assert customer["entity"]["email"] == "bob.norman@hostmail.com"

    product = normalise(delivery("products/update"), body("product"), RAW)
    assert product["entity"]["product_id"] == "632910392"
    assert {v["sku"] for v in product["entity"]["variants"]} >= {"IPOD2008PINK"}
    for event in (refund, customer, product):
        jsonschema.validate(event, SCHEMA)


def test_delete_payload_uses_receipt_time():
    event = normalise(delivery("products/delete"), b'{"id": 632910392}', RAW)
    assert event["event_type"] == "product.deleted"
    assert event["entity"] == {"product_id": "632910392", "deleted": True}
    # Our receipt time, not the unsigned X-Shopify-Triggered-At (a second earlier).
    assert event["occurred_at"] == "2026-01-02T03:04:06.000Z"


PRIVACY = {
    # Shapes from Shopify's "Privacy law compliance" docs.
    "customers/data_request": {
        "shop_id": 954889,
        "shop_domain": "shop.myshopify.com",
        "orders_requested": [299938, 280263],
        "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
        "data_request": {"id": 9999},
    },
    "customers/redact": {
        "shop_id": 954889,
        "shop_domain": "shop.myshopify.com",
        "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
        "orders_to_redact": [299938, 280263, 220458],
    },
    "shop/redact": {"shop_id": 954889, "shop_domain": "shop.myshopify.com"},
}


@pytest.mark.parametrize("topic", sorted(PRIVACY))
def test_privacy_requests_are_kept_without_personal_data(topic):
    event = normalise(delivery(topic), json.dumps(PRIVACY[topic]).encode(), RAW)
    jsonschema.validate(event, SCHEMA)
    assert event["event_type"] == "privacy.requested"
    entity = event["entity"]
    assert entity["request"] == topic
    assert "john@example.com" not in json.dumps(event)  # neither in the entity nor the raw copy
    assert "555-625-1199" not in json.dumps(event)
    assert event["raw"]["meta"]["encoding"] == "minimised"
    if topic != "shop/redact":
        assert entity["customer_id"] == "191167"
        assert entity["order_ids"][:2] == ["299938", "280263"]
    again = normalise(delivery(topic), json.dumps(PRIVACY[topic]).encode(), RAW)
    assert again["event_id"] == event["event_id"]


def test_every_declared_topic_is_handled():
    names = {"orders": "order", "refunds": "refund", "customers": "customer", "products": "product"}
    for topic in TOPICS:
        if topic in PRIVACY or topic == "app/uninstalled":  # its own test below
            continue
        kind = names[topic.split("/")[0]]
        payload = json.loads(body(kind)) if not topic.endswith("delete") else {"id": 1}
        if topic == "orders/cancelled":
            payload["cancelled_at"] = "2008-01-10T11:00:00-05:00"
        event = normalise(delivery(topic), json.dumps(payload).encode(), RAW)
        jsonschema.validate(event, SCHEMA)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("shop/update", b"{}", "unhandled topic"),
        ("orders/create", b"not json", "not JSON"),
        ("orders/create", b"[1, 2]", "not a JSON object"),
        (
            "orders/create",
            b'{"id": 1, "line_items": [], "updated_at": "2020-01-01T00:00:00Z"}',
            "currency",
        ),
        (
            "orders/create",
            b'{"currency": "USD", "line_items": [], "updated_at": "yesterday"}',
            "timestamp",
        ),
    ],
)
def test_unreadable_payloads_are_poison_with_a_reason(topic, payload, reason):
    with pytest.raises(PoisonMessage, match=reason):
        normalise(delivery(topic), payload, RAW)


def test_payment_link_orders_keep_the_manager_and_channel():
    payload = json.loads(body("order"))
    payload["tags"] = "orderhub, channel:instagram, manager:olena"
    event = normalise(delivery("orders/create"), json.dumps(payload).encode(), RAW)
    assert event["entity"]["manager"] == "olena"
    assert event["entity"]["attribution"]["channel"] == "instagram"
    plain = normalise(delivery("orders/create"), body("order"), RAW)
    assert (plain["entity"]["manager"], plain["entity"]["attribution"]["channel"]) == (
        None,
        "shopify",
    )


@pytest.mark.parametrize(
    ("topic", "kind", "reason"),
    [
        ("orders/cancelled", "order", "not cancelled"),  # an order's body replayed as a cancel
        ("orders/create", "customer", "not an order"),
        ("orders/updated", "product", "not an order"),
        ("refunds/create", "order", "not a refund"),
        ("customers/update", "order", "not a customer: has line_items"),
        ("customers/create", "product", "not a customer: has variants"),
        ("products/update", "order", "not a product"),
        ("products/create", "customer", "not a product"),
    ],
)
def test_a_body_replayed_under_another_topic_is_quarantined(topic, kind, reason):
    """Shopify does not sign the topic header: a signed body under the wrong topic is poison."""
    with pytest.raises(PoisonMessage, match=reason):
        normalise(delivery(topic), body(kind), RAW)
    native = {"order": "orders/updated", "customer": "customers/update"}.get(kind)
    if native:  # the same body under its own topic is fine (the control)
        assert normalise(delivery(native), body(kind), RAW)["entity_id"]


def test_a_real_cancellation_is_accepted():
    payload = json.loads(body("order"))
    payload["cancelled_at"] = "2008-01-10T11:00:00-05:00"
    event = normalise(delivery("orders/cancelled"), json.dumps(payload).encode(), RAW)
    assert event["event_type"] == "order.cancelled"


def test_app_uninstalled_is_a_shop_event_without_the_owners_personal_data():
    shop = {"id": 690933842, "myshopify_domain": "shop.myshopify.com", "email": "o@x.example"}
    event = normalise(delivery("app/uninstalled"), json.dumps(shop).encode(), RAW)
    jsonschema.validate(event, SCHEMA)
    assert (event["event_type"], event["entity_type"]) == ("shop.uninstalled", "shop")
    assert event["entity"] == {
        "shop_id": "690933842",
        "myshopify_domain": "shop.myshopify.com",
        "status": "uninstalled",
    }
    assert "o@x.example" not in json.dumps(event)
    with pytest.raises(PoisonMessage, match="not a shop"):
        normalise(delivery("app/uninstalled"), b'{"line_items": []}', RAW)
