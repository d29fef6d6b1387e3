"""Replayed and oversized webhook bodies (issue 11, items 3 and 5), with small fakes.

Shopify signs the body only. The topic, ``X-Shopify-Webhook-Id`` and
``X-Shopify-Triggered-At`` are headers anyone holding one captured delivery can rewrite.
"""

import functools
import json
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from orderhub.bus import publish_once
from orderhub.errors import BodyTooLarge, PoisonMessage, Unauthenticated
from orderhub.shopify_webhook.receive import admit, receive, signature
from orderhub.sources.shopify import Delivery, normalise
from tests.conftest import load_json
from tests.unit.test_webhook_core import MemoryBus, MemoryClaims

SHOP, SECRET = "shop-a.myshopify.com", "s3cret"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAR_FUTURE = "2099-01-01T00:00:00Z"
CUSTOMER = load_json("shopify/shopify_python_api__customer.json")["customer"]
PRODUCT = load_json("shopify/shopify_python_api__product.json")["product"]
ORDER = load_json("shopify/shopify_python_api__order.json")["order"]
RAW = {"raw_id": "r", "kind": "shopify_webhook", "received_at": "x", "sha256": "00"}

#: What Shopify's own delete bodies look like (webhook reference examples): the id, and for
#: customers a few keys that are always null or empty.
GENUINE_DELETES = {
    "customers/delete": {
        "id": 706405506930370084,
        "phone": None,
        "addresses": [],
        "tax_exemptions": [],
        "email_marketing_consent": None,
        "sms_marketing_consent": None,
        "admin_graphql_api_id": "gid://shopify/Customer/706405506930370084",
    },
    "products/delete": {"id": 788032119674292922},
    "orders/delete": {"id": 450789469},
}


def delivery(topic: str, triggered_at: str | None = FAR_FUTURE) -> Delivery:
    return Delivery(topic, SHOP, "w1", "e1", triggered_at, NOW)


def hdrs(body: bytes, *, topic: str, webhook_id: str, triggered_at: str = FAR_FUTURE) -> Headers:
    return Headers(
        {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Hmac-Sha256": signature(SECRET, body),
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Triggered-At": triggered_at,
        }
    )


def call(body, headers, claims, bus, **kw):
    return receive(
        headers=headers,
        body=body,
        shop_secrets={SHOP: SECRET},
        once=functools.partial(publish_once, claims=claims, bus=bus),
        now=lambda: NOW,
        **kw,
    )


@pytest.mark.parametrize(
    ("topic", "resource"),
    [("customers/delete", CUSTOMER), ("products/delete", PRODUCT), ("orders/delete", ORDER)],
)
def test_a_full_resource_sent_as_a_delete_is_poison(topic, resource):
    with pytest.raises(PoisonMessage, match="not a delete body"):
        normalise(delivery(topic), json.dumps(resource).encode(), RAW)


@pytest.mark.parametrize("field", ["updated_at", "created_at", "email", "title", "variants"])
def test_a_delete_body_with_any_resource_field_is_poison(field):
    body = {"id": 1, field: "2026-01-01T00:00:00Z" if field.endswith("_at") else ["x"]}
    with pytest.raises(PoisonMessage, match=field):
        normalise(delivery("customers/delete"), json.dumps(body).encode(), RAW)


def test_a_delete_naming_another_kind_of_resource_is_poison():
    body = GENUINE_DELETES["customers/delete"]  # gid://shopify/Customer/...
    with pytest.raises(PoisonMessage, match="another resource"):
        normalise(delivery("products/delete"), json.dumps(body).encode(), RAW)


@pytest.mark.parametrize("topic", sorted(GENUINE_DELETES))
def test_genuine_deletes_are_versioned_by_receipt_not_by_the_unsigned_trigger_time(topic):
    event = normalise(delivery(topic), json.dumps(GENUINE_DELETES[topic]).encode(), RAW)
    kind = topic.split("/")[0][:-1]
    assert event["event_type"] == f"{kind}.deleted"
    assert event["entity"] == {f"{kind}_id": str(GENUINE_DELETES[topic]["id"]), "deleted": True}
    assert event["occurred_at"] == "2026-03-01T12:00:00.000Z"  # not 2099


@pytest.mark.parametrize(
    ("triggered_at", "used"),
    [
        ("2026-03-01T11:58:30Z", "2026-03-01T11:58:30.000Z"),  # within minutes: Shopify's time
        ("2099-01-01T00:00:00Z", "2026-03-01T12:00:00.000Z"),  # far future: ours
        ("2020-01-01T00:00:00Z", "2026-03-01T12:00:00.000Z"),  # far past: ours
        ("yesterday", "2026-03-01T12:00:00.000Z"),
    ],
)
def test_trigger_time_is_a_version_only_near_receipt(triggered_at, used):
    payload = {"shop_id": 954889, "shop_domain": SHOP}
    event = normalise(delivery("shop/redact", triggered_at), json.dumps(payload).encode(), RAW)
    assert event["occurred_at"] == used


def test_the_replayed_update_as_a_delete_is_quarantined_and_hides_nothing():
    claims, bus = MemoryClaims(), MemoryBus()
    body = json.dumps(CUSTOMER).encode()
    first = call(body, hdrs(body, topic="customers/update", webhook_id="w-1"), claims, bus)
    swapped = call(body, hdrs(body, topic="customers/delete", webhook_id="w-2"), claims, bus)
    assert (first.status, swapped.status) == ("accepted", "quarantined")
    assert [e["event_type"] for e in bus.events] == ["customer.upserted", "payload.quarantined"]
    assert "not a delete body" in bus.events[1]["entity"]["reason"]


def test_the_same_body_and_topic_under_a_new_webhook_id_is_a_duplicate():
    claims, bus = MemoryClaims(), MemoryBus()
    body = json.dumps(CUSTOMER).encode()
    answers = [
        call(body, hdrs(body, topic="customers/update", webhook_id=w), claims, bus).status
        for w in ("w-1", "w-2", "w-3")
    ]
    assert answers == ["accepted", "duplicate", "duplicate"]
    assert len(bus.events) == 1


def test_admit_refuses_an_unknown_shop_before_anything_else():
    headers = Headers({"X-Shopify-Shop-Domain": "stranger.myshopify.com"})
    with pytest.raises(Unauthenticated):
        admit(headers, shop_secrets={SHOP: SECRET}, content_length=10, max_body_bytes=100)


@pytest.mark.parametrize("length", [None, 101, 10**9])
def test_admit_refuses_a_body_of_unknown_or_excessive_length(length):
    headers = Headers({"X-Shopify-Shop-Domain": SHOP})
    with pytest.raises(BodyTooLarge):
        admit(headers, shop_secrets={SHOP: SECRET}, content_length=length, max_body_bytes=100)


def test_admit_lets_a_known_shop_within_the_limit_through():
    headers = Headers({"X-Shopify-Shop-Domain": SHOP.upper()})
    assert admit(headers, shop_secrets={SHOP: SECRET}, content_length=100, max_body_bytes=100)


def test_a_body_too_large_to_publish_is_quarantined_as_a_stub_that_keeps_its_hash():
    claims, bus = MemoryClaims(), MemoryBus()
    order = {**ORDER, "note": "x" * 200_000}
    body = json.dumps(order).encode()
    headers = hdrs(body, topic="orders/create", webhook_id="big")
    outcome = call(body, headers, claims, bus, max_event_bytes=100_000)
    assert outcome.status == "quarantined"
    (event,) = bus.events
    assert event["event_type"] == "payload.quarantined"
    assert "too large to publish" in event["entity"]["reason"]
    raw = event["raw"]
    assert "body" not in raw and raw["meta"]["bytes"] == str(len(body))
    import hashlib

    assert raw["sha256"] == hashlib.sha256(body).hexdigest()
    assert len(json.dumps(event)) < 100_000
    # Claimed and published, so Shopify's retry of it is a duplicate, not a second stub.
    assert call(body, headers, claims, bus, max_event_bytes=100_000).status == "duplicate"


def test_receipt_clock_is_used_for_deletes_even_when_triggered_at_is_close():
    body = json.dumps(GENUINE_DELETES["products/delete"]).encode()
    bus = MemoryBus()
    near = (NOW - timedelta(seconds=30)).isoformat()
    call(
        body,
        hdrs(body, topic="products/delete", webhook_id="d", triggered_at=near),
        MemoryClaims(),
        bus,
    )
    assert bus.events[0]["occurred_at"] == "2026-03-01T12:00:00.000Z"
