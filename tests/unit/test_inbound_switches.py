"""The inbound switches (issue 15 item 6, Shopify -> CRM): what "off" means, and that
nothing switched off is lost. Pure code, fakes for the table writer and the settings read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from orderhub import inbound
from orderhub.errors import ConfigError, TransientError
from orderhub.event import Event, make_event
from orderhub.notifier.notify import notifies
from orderhub.shopify.settings import admin_shops
from orderhub.shopify_webhook.receive import receive, signature
from orderhub.sinks.bigquery import write_event
from orderhub.switches import CachedSwitches, Switches
from tests.conftest import ROOT

SHOP = "in-a.myshopify.com"
AT = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
OFF = Switches().changed({"inbound.orders": "off"})


def shopify_event(event_type: str = "order.created", entity_id: str = "450789469") -> Event:
    raw = {
        "raw_id": "r-" + entity_id,
        "kind": "shopify_webhook",
        "received_at": "2026-11-29T10:00:00.000Z",
        "sha256": "00",
        "body": '{"id": 450789469}',
        "meta": {"topic": "orders/create"},
    }
    entity: dict[str, Any] = {"order_id": entity_id, "created_at": "2026-11-29T09:59:00Z"}
    if event_type.startswith("customer"):
        entity = {"customer_id": entity_id}
    return make_event(
        event_type=event_type,
        source="shopify",
        shop=SHOP,
        occurred_at=AT,
        version=1,
        entity_id=entity_id,
        entity=entity,
        raw=raw,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ the settings
def test_inbound_is_on_by_default_and_switched_per_entity() -> None:
    assert all(Switches().inbound_on(e) for e in ("orders", "customers", "products"))
    changed = Switches().changed({"inbound.orders": "off"})
    assert not changed.inbound_on("orders") and changed.inbound_on("customers")
    again = Switches.from_document(json.loads(json.dumps(changed.to_document())))
    assert not again.inbound_on("orders")
    with pytest.raises(ValueError, match="unknown switch"):
        Switches().changed({"inbound.consent": "off"})
    with pytest.raises(ValueError, match="on or off"):
        Switches().changed({"inbound.orders": "maybe"})


class Reads:
    def __init__(self) -> None:
        self.count = 0
        self.value = Switches()
        self.fail = False

    def __call__(self, shop: str) -> Switches:
        self.count += 1
        if self.fail:
            raise TransientError("firestore away")
        return self.value


def test_cached_switches_read_once_per_ttl_and_see_a_change_after_it() -> None:
    reads, clock = Reads(), [100.0]
    cached = CachedSwitches(reads, ttl_s=30, clock=lambda: clock[0])
    for _ in range(50):
        assert cached(SHOP).inbound_on("orders")
    assert reads.count == 1
    reads.value = OFF
    clock[0] += 29.9
    assert cached(SHOP).inbound_on("orders")  # stale, within the promised 30 s
    clock[0] += 0.2
    assert not cached(SHOP).inbound_on("orders")
    assert reads.count == 2
    cached("other.myshopify.com")
    assert reads.count == 3  # per shop


def test_cached_switches_keep_the_last_value_through_an_outage_and_fail_without_one() -> None:
    reads, clock = Reads(), [0.0]
    reads.value = OFF
    cached = CachedSwitches(reads, ttl_s=1, clock=lambda: clock[0])
    assert not cached(SHOP).inbound_on("orders")
    reads.fail = True
    clock[0] += 5
    assert not cached(SHOP).inbound_on("orders")
    with pytest.raises(TransientError):
        cached("never-read.myshopify.com")


# ------------------------------------------------------------------ what is held
def test_a_shopify_order_is_held_with_a_reason_when_orders_are_off() -> None:
    held = inbound.hold(shopify_event(), OFF)
    assert inbound.is_held(held)
    assert "switched off" in held["hold"]["reason"] and "inbound.orders" in held["hold"]["reason"]
    assert held["event_id"] == shopify_event()["event_id"]  # the same fact, the same id
    refund = shopify_event("order.refunded", "r1")
    refund["entity_type"] = "refund"
    assert inbound.is_held(inbound.hold(refund, OFF))  # refunds go with orders


def test_other_entities_and_what_no_switch_may_stop_pass() -> None:
    assert "hold" not in inbound.hold(shopify_event("customer.upserted", "c1"), OFF)
    echo = {**shopify_event(), "source": "manual"}  # Shopify's echo of an order the CRM wrote
    assert "hold" not in inbound.hold(echo, OFF)  # type: ignore[arg-type]
    everything_off = Switches().changed(
        {"inbound.orders": "off", "inbound.customers": "off", "inbound.products": "off"}
    )
    for event_type, entity_type in (
        ("privacy.requested", "privacy"),
        ("payload.quarantined", "quarantine"),
    ):
        event = {**shopify_event(), "event_type": event_type, "entity_type": entity_type}
        assert "hold" not in inbound.hold(event, everything_off)  # type: ignore[arg-type]


def test_a_held_order_is_never_announced_and_a_released_one_follows_the_age_rule() -> None:
    held = inbound.hold(shopify_event(), OFF)
    assert notifies(shopify_event()) and not notifies(held)
    released = inbound.release(held, now=AT)
    assert notifies(released)
    assert released["origin"] == "catch-up" and released["found_at"] == "2026-11-29T10:00:00.000Z"
    assert "body" not in released["raw"]


# ------------------------------------------------------------------ crm_writer
class Tables:
    """An Inserter over the real table schemas, keeping the rows."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def schema(self, table: str) -> Sequence[dict[str, Any]]:
        return json.loads((ROOT / "schemas" / "bigquery" / f"{table}.json").read_text())

    def insert(self, table: str, rows: list[dict[str, Any]], row_ids: list[str]) -> None:
        self.rows.setdefault(table, []).extend(rows)


def test_crm_writer_keeps_a_held_event_out_of_the_crm_but_loses_nothing() -> None:
    tables = Tables()
    written = write_event(inbound.hold(shopify_event(), OFF), inserter=tables, now=lambda: AT)
    assert written == ["raw_events", "sync_log"]
    assert tables.rows["raw_events"][0]["body"] == '{"id": 450789469}'
    (log,) = tables.rows["sync_log"]
    assert (log["direction"], log["status"]) == ("inbound", "skipped")
    assert log["record_id"] == "450789469"
    assert log["reason"].startswith("switched off: orders from Shopify")
    kept = json.loads(log["held_event"])
    assert kept["entity"]["order_id"] == "450789469" and "body" not in kept["raw"]


def test_crm_writer_brings_a_released_event_in_once_and_logs_it_synced() -> None:
    held = inbound.hold(shopify_event(), OFF)
    tables = Tables()
    written = write_event(inbound.release(held, now=AT), inserter=tables, now=lambda: AT)
    assert written == ["order_events", "sync_log"]  # the raw payload is kept already
    assert tables.rows["order_events"][0]["raw_id"] == "r-450789469"
    assert tables.rows["sync_log"][0]["status"] == "synced"


class Bus:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> str:
        self.events.append(event)
        return str(len(self.events))


def test_bring_in_sends_only_what_is_switched_on_again() -> None:
    order = inbound.hold(shopify_event(), OFF)
    customer = inbound.hold(
        shopify_event("customer.upserted", "c1"), Switches().changed({"inbound.customers": "off"})
    )
    bus = Bus()
    sent, still_off = inbound.bring_in(
        [order, customer],
        switches=Switches().changed({"inbound.customers": "off"}),
        bus=bus,
        now=lambda: AT,
    )
    assert [e["entity_id"] for e in sent] == ["450789469"] and still_off == [customer]
    assert [inbound.state(e) for e in bus.events] == ["released"]


# ------------------------------------------------------------------ the webhook
class Once:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event, **_: Any) -> bool:
        self.events.append(event)
        return True


def test_the_webhook_still_verifies_claims_and_publishes_a_held_delivery() -> None:
    body = json.dumps(
        {
            "id": 1,
            "currency": "EUR",
            "total_price": "9.50",
            "updated_at": "2026-11-26T10:00:00Z",
            "line_items": [],
        }
    ).encode()
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Hmac-Sha256": signature("s", body),
        "X-Shopify-Webhook-Id": "w1",
    }
    once = Once()
    outcome = receive(
        headers=headers,
        body=body,
        shop_secrets={SHOP: "s"},
        once=once,  # type: ignore[arg-type]
        now=lambda: AT,
        hold=lambda event: inbound.hold(event, OFF),
    )
    assert outcome.status == "held" and "switched off" in str(outcome.reason)
    (published,) = once.events
    assert inbound.is_held(published) and published["raw"]["body"] == body.decode()


# ------------------------------------------------------------------ several shops
def test_admin_shops_reads_the_syncs_settings_shape() -> None:
    env = {
        "SHOPIFY_ADMIN_TOKENS": json.dumps({"A.myshopify.com": "ta", "b.myshopify.com": "tb"}),
        "SHOPIFY_ADMIN_URLS": json.dumps({"a.myshopify.com": "http://127.0.0.1:1"}),
    }
    shops = admin_shops(env)
    assert sorted(shops) == ["a.myshopify.com", "b.myshopify.com"]
    assert (shops["a.myshopify.com"].url, shops["a.myshopify.com"].token) == (
        "http://127.0.0.1:1",
        "ta",
    )
    assert shops["b.myshopify.com"].url == "https://b.myshopify.com"
    single = admin_shops({"SHOPIFY_SHOP_DOMAIN": "c.myshopify.com", "SHOPIFY_ADMIN_TOKEN": "tc"})
    assert list(single) == ["c.myshopify.com"]
    with pytest.raises(ConfigError, match="SHOPIFY_ADMIN_TOKENS"):
        admin_shops({})
