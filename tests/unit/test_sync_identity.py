"""Issue 19: one identity per order across directions. Every producer of Shopify facts
(webhook, reconcile, backfill, the release of held events) recognises an order the CRM
wrote by its ``sourceIdentifier`` and our app id, never by attributes a customer can set;
a missing app id is foreign; and nothing starts without ``SHOPIFY_APP_IDS``."""

from __future__ import annotations

import json

import pytest

from devstack.standins.shopify_store import ShopifyStore
from orderhub.errors import ConfigError
from orderhub.inbound import recognise
from orderhub.shopify import markers
from orderhub.shopify.settings import own_app_ids
from orderhub.shopify_reconcile import backfill
from orderhub.shopify_reconcile.settings import ReconcileSettings
from orderhub.shopify_sync import plan
from orderhub.shopify_webhook.settings import WebhookSettings
from orderhub.sources.shopify import Delivery, normalise
from orderhub.switches import Switches
from tests.unit.test_shopify_sync import NOW, SHOP, Clock, MemoryBus, MemoryCursors, orders, run

OURS = frozenset({"9876543"})
MAILBOX = "orders@shop.example"
RAW = {"raw_id": "r1", "kind": "shopify_webhook", "received_at": "2026-11-26T12:00:00Z"}


def our_order(**extra: object) -> dict:
    """A Shopify order that shopify_sync wrote for e-mail order K-3F8LX of MAILBOX."""
    order = orders(1)[0]
    order.update(
        source_identifier=markers.source_identifier("email:kiire", "K-3F8LX", MAILBOX),
        app_id=9876543,
        source_name="orderhub",
        note_attributes=[{"name": "orderhub_order_name", "value": "#K-3F8LX"}],
    )
    order.update(extra)
    return order


def delivery(topic: str, own: frozenset[str] = OURS) -> Delivery:
    return Delivery(topic, SHOP, "w1", "e1", None, NOW, own)


def webhook(payload: dict, topic: str = "orders/create", own: frozenset[str] = OURS) -> dict:
    return dict(normalise(delivery(topic, own), json.dumps(payload).encode(), RAW))


# --------------------------------------------------------------------- the identity
def test_the_source_identifier_carries_the_mailbox_and_reads_back() -> None:
    one = markers.source_identifier("email:kiire", "K-1", "a@shop.example")
    two = markers.source_identifier("email:kiire", "K-1", "b@shop.example")
    assert one != two  # two mailboxes with one order number do not collide
    ref = markers.parse_source_identifier(one)
    assert ref is not None and (ref.shop, ref.source, ref.order_id) == (
        "a@shop.example",
        "email:kiire",
        "K-1",
    )
    # the form's orders (keyed by the Shopify shop itself) keep the short form
    assert markers.source_identifier("manual", "M-1") == "orderhub:manual:M-1"


def test_the_order_sent_and_its_link_are_keyed_by_the_mailbox() -> None:
    from orderhub.shopify_sync.links import link_key

    event = {
        "event_type": "order.created",
        "source": "email:kiire",
        "shop": MAILBOX,
        "entity_id": "K-1",
        "occurred_at": "2026-11-20T09:30:00Z",
        "entity": {"order_id": "K-1", "currency": "EUR", "line_items": []},
    }
    sent = plan.order_create_input(
        event,  # type: ignore[arg-type]
        variants={},
        switches=Switches(),
        customer_id=None,
        shop=SHOP,
    )
    assert sent.order["sourceIdentifier"] == f"orderhub@{MAILBOX}:email:kiire:K-1"
    assert link_key(SHOP, "order", "email:kiire", "K-1", MAILBOX) != link_key(
        SHOP, "order", "email:kiire", "K-1", "other@shop.example"
    )


def test_the_chat_contact_the_crm_chose_travels_with_our_order_and_comes_back() -> None:
    event = {
        "event_type": "order.created",
        "source": "manual",
        "shop": SHOP,
        "entity_id": "M-1",
        "occurred_at": "2026-11-20T09:30:00Z",
        "entity": {
            "order_id": "M-1",
            "currency": "EUR",
            "line_items": [],
            "attribution": {
                "channel": "phone",
                "contact_id": "123456",
                "contact_evidence": "manager",
            },
        },
    }
    sent = plan.order_create_input(
        event,  # type: ignore[arg-type]
        variants={},
        switches=Switches(),
        customer_id=None,
        shop=SHOP,
    )
    attributes = [{"name": a["key"], "value": a["value"]} for a in sent.order["customAttributes"]]
    echo = webhook(
        our_order(source_identifier=sent.order["sourceIdentifier"], note_attributes=attributes),
        "orders/updated",
    )
    assert (echo["source"], echo["entity_id"]) == ("manual", "M-1")
    attribution = echo["entity"]["attribution"]
    assert (attribution["contact_id"], attribution["contact_evidence"]) == ("123456", "manager")


def test_the_echo_of_an_email_order_keeps_the_email_channel() -> None:
    echo = webhook(our_order(), "orders/updated")
    assert echo["entity"]["attribution"]["channel"] == "email"
    assert echo["entity"]["attribution"]["source_name"] == "kiire"


# -------------------------------------------------------- forged or foreign orders
@pytest.mark.parametrize(
    "forged",
    [
        # cart attributes of a storefront order (cart/update.js, attributes[...] links)
        {
            "note_attributes": [
                {"name": "orderhub_source", "value": "manual"},
                {"name": "orderhub_order_id", "value": "M-VICTIM"},
                {"name": "orderhub_shop", "value": SHOP},
            ],
            "app_id": 580111,  # the online store
        },
        # the same with no app id at all
        {
            "note_attributes": [
                {"name": "orderhub_source", "value": "manual"},
                {"name": "orderhub_order_id", "value": "M-VICTIM"},
            ],
            "app_id": None,
        },
        # our identifier on an order with no app id is foreign
        {"source_identifier": "orderhub:manual:M-VICTIM", "app_id": None},
        # ... and on an order another app created
        {"source_identifier": "orderhub:manual:M-VICTIM", "app_id": 580111},
    ],
)
def test_attributes_a_customer_can_set_never_take_over_a_crm_order(forged: dict) -> None:
    order = {**orders(1)[0], "total_price": "0.01", **forged}
    for topic in ("orders/create", "orders/cancelled"):
        payload = {**order, "cancelled_at": "2026-11-25T08:05:00Z"} if "cancel" in topic else order
        event = webhook(payload, topic)
        assert (event["source"], event["shop"], event["entity_id"]) == ("shopify", SHOP, "9000")


def test_without_our_app_ids_nothing_is_ours() -> None:
    event = webhook(our_order(), own=frozenset())
    assert (event["source"], event["entity_id"]) == ("shopify", "9000")


@pytest.mark.parametrize("value", [None, "", " , "])
def test_the_deployment_refuses_to_start_without_our_app_ids(value: str | None) -> None:
    env = {
        "GOOGLE_CLOUD_PROJECT": "p",
        "SHOPIFY_WEBHOOK_SECRETS": json.dumps({SHOP: "s"}),
        "BIGQUERY_DATASET": "crm",
        "SHOPIFY_ADMIN_TOKENS": json.dumps({SHOP: "shpat_x"}),
    }
    if value is not None:
        env["SHOPIFY_APP_IDS"] = value
    for settings in (WebhookSettings, ReconcileSettings):
        with pytest.raises(ConfigError, match="SHOPIFY_APP_IDS"):
            settings.from_env(env)
    env["SHOPIFY_APP_IDS"] = "gid://shopify/App/9876543, 111"
    assert WebhookSettings.from_env(env).own_app_ids == {"9876543", "111"}
    assert ReconcileSettings.from_env(env).own_app_ids == {"9876543", "111"}
    with pytest.raises(ConfigError):
        own_app_ids({"SHOPIFY_APP_IDS": "our-app"})


# --------------------------------------------------------------- every producer
def test_the_webhook_maps_our_order_onto_the_crm_order_under_its_mailbox() -> None:
    event = webhook(our_order())
    assert event["event_type"] == "order.updated"  # no second order, no second message
    assert (event["source"], event["shop"], event["entity_id"]) == (
        "email:kiire",
        MAILBOX,
        "K-3F8LX",
    )
    assert event["entity"]["shopify_order_id"] == "9000"


def test_reconcile_recognises_the_order_the_sync_created() -> None:
    store, bus = ShopifyStore(), MemoryBus()
    store.put_order(our_order())
    store.put_order(orders(2)[1])  # a shop order of the storefront
    summary = run_with_app_ids(store, bus)
    assert summary.published == 2
    by_id = {e["entity_id"]: e for e in bus.events}
    ours = by_id["K-3F8LX"]
    assert (ours["event_type"], ours["source"], ours["shop"]) == (
        "order.updated",
        "email:kiire",
        MAILBOX,
    )
    assert ours["entity"]["shopify_order_id"] == "9000"
    assert by_id["9001"]["source"] == "shopify"


def run_with_app_ids(store: ShopifyStore, bus: MemoryBus) -> object:
    from orderhub.shopify_reconcile import reconcile

    clock = Clock()
    return reconcile.reconcile(
        shop=SHOP,
        resource="orders",
        graphql=store.graphql,
        cursors=MemoryCursors(),
        known_versions=lambda resource, shop, ids: {},
        bus=bus,
        now=lambda: NOW,
        sleep=clock.sleep,
        page_size=2,
        own_app_ids=OURS,
    )


def test_reconcile_without_app_ids_is_the_old_behaviour_kept_for_comparison() -> None:
    store, bus = ShopifyStore(), MemoryBus()
    store.put_order(our_order())
    run(store, MemoryCursors(), bus)
    assert bus.events[0]["source"] == "shopify"  # what issue 19 found: a second order


def test_backfill_recognises_the_order_the_sync_created() -> None:
    store, bus = ShopifyStore(), MemoryBus()
    store.put_order(our_order())
    clock = Clock()
    backfill.backfill(
        shop=SHOP,
        resource="orders",
        graphql=store.graphql,
        download=lambda url: store.files[url.rsplit("/", 1)[-1].split(".")[0]],
        bus=bus,
        now=lambda: NOW,
        sleep=clock.sleep,
        own_app_ids=OURS,
    )
    [event] = bus.events
    assert (event["source"], event["shop"], event["entity_id"]) == (
        "email:kiire",
        MAILBOX,
        "K-3F8LX",
    )


def test_a_held_shopify_order_that_is_ours_is_released_as_the_crm_order() -> None:
    payload = our_order()
    held = webhook(payload, own=frozenset())  # held before its producer knew it
    assert held["source"] == "shopify"
    released = recognise(held, json.dumps(payload), OURS)  # type: ignore[arg-type]
    assert (released["source"], released["shop"], released["entity_id"]) == (
        "email:kiire",
        MAILBOX,
        "K-3F8LX",
    )
    assert released["event_type"] == "order.updated"
    assert released["event_id"] == held["event_id"]
    forged = {**payload, "app_id": None}
    assert recognise(held, json.dumps(forged), OURS)["source"] == "shopify"  # type: ignore[arg-type]


def test_reconcile_asks_for_the_identity_fields() -> None:
    from orderhub.sources import shopify_graphql

    for field in ("sourceIdentifier", "customAttributes", "app { id }"):
        assert field in shopify_graphql.ORDER_FIELDS
