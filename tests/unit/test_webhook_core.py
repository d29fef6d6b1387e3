"""The webhook's core decisions, with small in-memory collaborators."""

import functools
import json
from datetime import UTC, datetime

import pytest
from werkzeug.datastructures import Headers

from orderhub.bus import publish_once
from orderhub.errors import TransientError, Unauthenticated
from orderhub.shopify_webhook.receive import receive, signature
from tests.conftest import load_json

SHOP, SECRET = "shop-a.myshopify.com", "s3cret"
ORDER = json.dumps(load_json("shopify/shopify_python_api__order.json")["order"]).encode()


class MemoryClaims:
    def __init__(self, fail: bool = False) -> None:
        self.keys: dict[str, dict] = {}
        self.fail = fail

    def claim(self, key, data, *, now):
        if self.fail:
            raise TransientError("firestore away")
        if key in self.keys:
            return False
        self.keys[key] = data
        return True

    def release(self, key):
        self.keys.pop(key, None)


class MemoryBus:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[dict] = []
        self.fail = fail

    def publish(self, event):
        if self.fail:
            raise TransientError("pubsub away")
        self.events.append(event)
        return str(len(self.events))


def headers(body: bytes, *, topic="orders/create", webhook_id="w-1", secret=SECRET, style="x"):
    prefix = "X-Shopify-" if style == "x" else "shopify-"
    return Headers(
        {
            f"{prefix}Topic": topic,
            f"{prefix}Shop-Domain": SHOP,
            f"{prefix}Hmac-Sha256": signature(secret, body),
            f"{prefix}Webhook-Id": webhook_id,
        }
    )


def call(body, hdrs, claims=None, bus=None):
    return receive(
        headers=hdrs,
        body=body,
        shop_secrets={SHOP: SECRET, "other.myshopify.com": "other"},
        once=functools.partial(
            publish_once,
            claims=claims if claims is not None else MemoryClaims(),
            bus=bus if bus is not None else MemoryBus(),
        ),
        now=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_signed_order_is_published_once():
    claims, bus = MemoryClaims(), MemoryBus()
    first = call(ORDER, headers(ORDER), claims, bus)
    second = call(ORDER, headers(ORDER), claims, bus)
    assert (first.status, second.status) == ("accepted", "duplicate")
    assert len(bus.events) == 1
    assert bus.events[0]["entity_id"] == "450789469"
    assert bus.events[0]["raw"]["body"] == ORDER.decode()


def test_new_header_spelling_is_accepted():
    bus = MemoryBus()
    assert call(ORDER, headers(ORDER, style="new"), bus=bus).status == "accepted"
    assert len(bus.events) == 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h.remove("X-Shopify-Hmac-Sha256"),
        lambda h: h.set("X-Shopify-Hmac-Sha256", signature("wrong", ORDER)),
        lambda h: h.set("X-Shopify-Shop-Domain", "unknown.myshopify.com"),
        lambda h: h.set("X-Shopify-Shop-Domain", "other.myshopify.com"),  # other shop's secret
    ],
    ids=["missing", "wrong-secret", "unknown-shop", "another-shops-secret"],
)
def test_unsigned_or_forged_is_refused_and_nothing_happens(mutate):
    claims, bus = MemoryClaims(), MemoryBus()
    hdrs = headers(ORDER)
    mutate(hdrs)
    with pytest.raises(Unauthenticated):
        call(ORDER, hdrs, claims, bus)
    assert claims.keys == {} and bus.events == []


def test_authenticated_garbage_is_quarantined_with_reason():
    bus = MemoryBus()
    outcome = call(b"<html>oops", headers(b"<html>oops"), bus=bus)
    assert outcome.status == "quarantined"
    event = bus.events[0]
    assert event["event_type"] == "payload.quarantined"
    assert "not JSON" in event["entity"]["reason"]
    assert event["raw"]["body"] == "<html>oops"


def test_unhandled_topic_is_kept_too():
    bus = MemoryBus()
    body = b'{"id": 1}'
    outcome = call(body, headers(body, topic="shop/update"), bus=bus)
    assert outcome.status == "quarantined"
    assert bus.events[0]["entity"]["topic"] == "shop/update"


def test_publish_failure_releases_the_claim_so_a_retry_succeeds():
    claims = MemoryClaims()
    with pytest.raises(TransientError):
        call(ORDER, headers(ORDER), claims, MemoryBus(fail=True))
    assert claims.keys == {}
    bus = MemoryBus()
    assert call(ORDER, headers(ORDER), claims, bus).status == "accepted"
    assert len(bus.events) == 1


def test_claim_store_outage_is_transient():
    bus = MemoryBus()
    with pytest.raises(TransientError):
        call(ORDER, headers(ORDER), MemoryClaims(fail=True), bus)
    assert bus.events == []


def test_non_utf8_body_is_archived_as_base64():
    body = b"\xff\xfe not utf-8"
    bus = MemoryBus()
    call(body, headers(body), bus=bus)
    raw = bus.events[0]["raw"]
    assert raw["meta"]["encoding"] == "base64"


def test_an_instance_freezes_its_setup_once_after_one_collection(monkeypatch) -> None:
    """The instance's imported objects leave the cycle collector's sight on its first
    request (``wiring.settle``): later full collections walk only what came after."""
    import gc

    from orderhub.shopify_webhook import wiring

    collections: list[int] = []
    collect = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(1) or collect(*a))
    monkeypatch.setattr(wiring, "_SETTLED", [])
    gc.unfreeze()
    try:
        setup = [{"kept": n} for n in range(1000)]  # tracked objects of the "set-up"
        wiring.settle()
        frozen = gc.get_freeze_count()
        wiring.settle()  # the next requests: nothing more
        assert collections == [1]
        assert frozen >= len(setup)
        assert gc.get_freeze_count() == frozen
        assert not any(o is setup for o in gc.get_objects())  # out of the collector's sight
    finally:
        gc.unfreeze()
