"""The pure parts of the outbound sync (orderhub.shopify_sync): what goes into Shopify, the
markers on it, how Shopify's echo of it joins the CRM order, the switches."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from orderhub.shopify import markers
from orderhub.shopify_sync import plan
from orderhub.sources import manual
from orderhub.sources.shopify import Delivery, normalise
from orderhub.switches import Switches
from tests.conftest import load_json

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "event.v1.json").read_text())
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
RAW = {
    "raw_id": "r1",
    "kind": "shopify_webhook",
    "received_at": "2026-01-01T00:00:00Z",
    "sha256": "0",
}
ON = Switches().changed({"outbound.orders": "on", "outbound.customers": "on"})


def form_event(**customer: str | None) -> dict:
    order = manual.ManualOrder(
        lines=(
            manual.Line("Ceramic mug", 2, Decimal("11.50"), sku="MUG-1"),
            manual.Line("Gift wrap", 1, Decimal("2.00")),
        ),
        currency="EUR",
        customer_name=customer.get("name", "Ana Maria Silva"),
        phone=customer.get("phone", "+351912345678"),
        email=customer.get("email", "ana@example.com"),
        address="Rua Augusta 10",
        delivery_method="courier",
        note="ring twice",
        channel="phone",
    )
    return dict(
        manual.order_event(
            order, manager="maria", form_token="t" * 20, shop="s.myshopify.com", at=AT
        )
    )


def test_order_input_matches_variants_by_sku_and_keeps_the_rest_as_custom_lines() -> None:
    event = form_event()
    result = plan.order_create_input(
        event, variants={"MUG-1": "gid://shopify/ProductVariant/8"}, switches=ON, customer_id=None
    )
    mug, wrap = result.order["lineItems"]
    assert mug == {
        "variantId": "gid://shopify/ProductVariant/8",
        "quantity": 2,
        "priceSet": {"shopMoney": {"amount": "11.50", "currencyCode": "EUR"}},
    }
    assert wrap["title"] == "Gift wrap" and "variantId" not in wrap
    assert result.notes == []  # a line without SKU is a custom line by nature


def test_order_input_carries_time_money_status_markers_and_no_receipt() -> None:
    event = form_event()
    order_id = event["entity_id"]
    result = plan.order_create_input(
        event, variants={}, switches=ON, customer_id="gid://shopify/Customer/5"
    )
    order, options = result.order, result.options
    assert order["processedAt"] == "2026-11-20T09:30:00.000Z"
    assert order["financialStatus"] == "PENDING" and order["currency"] == "EUR"
    assert order["sourceIdentifier"] == f"orderhub:manual:{order_id}"
    assert {"orderhub", "orderhub-source:manual", "manager:maria", "channel:phone"} <= set(
        order["tags"]
    )
    assert {"key": "orderhub_order_id", "value": order_id} in order["customAttributes"]
    assert order["customer"] == {"toAssociate": {"id": "gid://shopify/Customer/5"}}
    assert order["shippingAddress"]["address1"] == "Rua Augusta 10"
    assert order["shippingAddress"]["lastName"] == "Silva"
    assert options == {
        "inventoryBehaviour": "DECREMENT_OBEYING_POLICY",
        "sendReceipt": False,
        "sendFulfillmentReceipt": False,
    }
    assert result.notes == ["variant not found for SKU MUG-1: sent as a custom line"]
    receipt = Switches.from_document({**ON.to_document(), "send_receipt": True})
    assert plan.order_create_input(event, variants={}, switches=receipt, customer_id=None).options[
        "sendReceipt"
    ]


def test_email_orders_keyed_by_mailbox_name_it_in_an_attribute() -> None:
    event = {**form_event(), "shop": "owner@gmail.example", "source": "email:kiire"}
    order = plan.order_create_input(
        event, variants={}, switches=ON, customer_id=None, shop="s.myshopify.com"
    ).order
    assert {"key": "orderhub_shop", "value": "owner@gmail.example"} in order["customAttributes"]


@pytest.mark.parametrize(
    ("document", "source", "reason"),
    [
        (None, "manual", "switched off: orders are not sent to Shopify (outbound.orders)"),
        (
            {"outbound": {"orders": True}, "sources": {"email:*": False}},
            "email:kiire",
            "switched off: orders from e-mail (kiire) are not sent to Shopify",
        ),
        ({"outbound": {"orders": True}, "sources": {"email:*": False}}, "manual", None),
        (
            {"outbound": {"orders": True}, "sources": {"email:*": False, "email:kiire": True}},
            "email:kiire",
            None,
        ),
    ],
)
def test_switches_per_entity_and_source(
    document: dict | None, source: str, reason: str | None
) -> None:
    event = {**form_event(), "source": source}
    assert plan.order_skip_reason(event, Switches.from_document(document)) == reason


def test_switch_assignments_are_checked() -> None:
    changed = Switches().changed({"outbound.orders": "on", "orders_per_minute": "5"})
    assert changed.outbound_orders and changed.orders_per_minute == 5
    for bad in ({"outbound.refunds": "on"}, {"outbound.orders": "maybe"}, {"colour": "red"}):
        with pytest.raises(ValueError):
            Switches().changed(bad)


def test_customer_input_never_sends_an_address_list_and_unchanged_is_not_written() -> None:
    wish = plan.customer_wish(
        {"name": "Ana Maria Silva", "email": "Ana@Example.com", "phone": "+351 912345678"}
    )
    assert wish is not None
    assert plan.customer_set_input(wish) == {
        "email": "ana@example.com",
        "phone": "+351912345678",
        "firstName": "Ana Maria",
        "lastName": "Silva",
    }
    assert plan.customer_identifier(wish) == {"email": "ana@example.com"}

    class Current:
        email, phone, first_name, last_name = (
            "ana@example.com",
            "+351912345678",
            "Ana Maria",
            "Silva",
        )

    assert plan.customer_unchanged(Current(), wish)
    Current.phone = "+351900000000"
    assert not plan.customer_unchanged(Current(), wish)


def test_a_taken_contact_merges_only_with_the_same_name_and_no_contradiction() -> None:
    wish = plan.customer_wish(
        {"name": "Ana Silva", "email": "ana@example.com", "phone": "+351912345678"}
    )

    class Other:
        first_name, last_name, email, phone = "ana", "SILVA", None, "+351912345678"

    assert plan.may_merge(Other(), wish)
    Other.email = "someone@else.com"
    assert not plan.may_merge(Other(), wish)
    Other.email, Other.first_name = None, "Rui"
    assert not plan.may_merge(Other(), wish)


def test_consent_newest_decision_wins_and_a_decision_without_time_is_never_sent() -> None:
    subscribed = {"state": "subscribed", "consent_updated_at": "2026-11-20T09:29:00Z"}
    assert plan.consent_to_send(subscribed, None) == {
        "marketingState": "SUBSCRIBED",
        "marketingOptInLevel": "SINGLE_OPT_IN",
        "consentUpdatedAt": "2026-11-20T09:29:00Z",
    }
    newer_unsub = {"marketingState": "UNSUBSCRIBED", "consentUpdatedAt": "2026-11-25T10:00:00Z"}
    assert plan.consent_to_send(subscribed, newer_unsub) is None
    older = {"marketingState": "UNSUBSCRIBED", "consentUpdatedAt": "2026-11-01T10:00:00Z"}
    assert plan.consent_to_send(subscribed, older) is not None
    assert plan.consent_to_send({"state": "subscribed"}, None) is None


def test_search_values_are_quoted() -> None:
    assert (
        markers.search_query("email:kiire", 'K "1"')
        == 'source_identifier:"orderhub:email:kiire:K \\"1\\""'
    )


# ---------------------------------------------------------- the echo joins the CRM order
def echo_payload(**extra: object) -> bytes:
    order = load_json("shopify/shopify_python_api__order.json")["order"]
    order.update(extra)
    return json.dumps(order).encode()


#: Our app's id (SHOPIFY_APP_IDS): only orders it created can be the CRM's (issue 19).
OUR_APP = 9876543


def delivery(topic: str) -> Delivery:
    return Delivery(
        topic=topic,
        shop="shop.myshopify.com",
        webhook_id="w1",
        event_id="e1",
        triggered_at=None,
        received_at=datetime(2026, 1, 2, tzinfo=UTC),
        own_app_ids=frozenset({str(OUR_APP)}),
    )


def test_shopify_echo_of_our_order_is_an_update_of_the_crm_order() -> None:
    body = echo_payload(
        source_identifier="orderhub:manual:M-ABCDE12345",
        app_id=OUR_APP,
        processed_at="2026-11-20T09:30:00Z",
        note_attributes=[
            {"name": "orderhub_source", "value": "manual"},
            {"name": "orderhub_order_id", "value": "M-ABCDE12345"},
            {"name": "orderhub_order_name", "value": "M-ABCDE12345"},
        ],
        tags="orderhub, orderhub-source:manual, manager:maria, channel:phone",
    )
    event = normalise(delivery("orders/create"), body, RAW)
    jsonschema.validate(event, SCHEMA)
    assert event["event_type"] == "order.updated"  # no second order, no second message
    assert (event["source"], event["entity_id"]) == ("manual", "M-ABCDE12345")
    order = event["entity"]
    assert order["order_id"] == "M-ABCDE12345" and order["name"] == "M-ABCDE12345"
    assert order["shopify_order_id"] == "450789469"
    assert order["shopify_admin_url"] == "https://shop.myshopify.com/admin/orders/450789469"
    assert order["manager"] == "maria" and order["attribution"]["channel"] == "phone"
    assert order["created_at"] == "2026-11-20T09:30:00Z"


def test_echo_of_an_email_order_keeps_its_mailbox_as_shop() -> None:
    body = echo_payload(
        source_identifier="orderhub@owner@gmail.example:email:kiire:K-1",
        app_id=OUR_APP,
        note_attributes=[
            {"name": "orderhub_source", "value": "email:kiire"},
            {"name": "orderhub_order_id", "value": "K-1"},
            {"name": "orderhub_shop", "value": "owner@gmail.example"},
        ],
    )
    event = normalise(delivery("orders/updated"), body, RAW)
    assert (event["shop"], event["source"], event["entity_id"]) == (
        "owner@gmail.example",
        "email:kiire",
        "K-1",
    )


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"tags": "orderhub"},  # a tag a merchant could type is not enough
        {"note_attributes": [{"name": "orderhub_order_id", "value": "M-1"}]},
        {"source_identifier": "orderhub:shopify:1"},
        {"source_identifier": "someone-else:123"},
    ],
)
def test_other_orders_stay_shopify_orders(extra: dict) -> None:
    event = normalise(delivery("orders/create"), echo_payload(**extra), RAW)
    assert (event["event_type"], event["source"], event["entity_id"]) == (
        "order.created",
        "shopify",
        "450789469",
    )
    assert "shopify_order_id" not in event["entity"]


def test_markers_on_an_order_another_app_created_are_not_believed() -> None:
    from dataclasses import replace

    body = echo_payload(source_identifier="orderhub:manual:M-1", app_id=111)
    ours = replace(delivery("orders/create"), own_app_ids=frozenset({"9876543"}))
    event = normalise(ours, body, RAW)
    assert (event["source"], event["entity_id"]) == ("shopify", "450789469")
    echo = normalise(
        ours, echo_payload(source_identifier="orderhub:manual:M-1", app_id=9876543), RAW
    )
    assert (echo["source"], echo["entity_id"]) == ("manual", "M-1")


def test_consent_from_shopify_webhooks_reaches_the_customer_row() -> None:
    from devstack.dataset import table_schema
    from orderhub.sinks.bigquery import build_row, event_values

    customer = load_json("shopify/shopify_python_api__customer.json")["customer"]
    customer["email_marketing_consent"] = {
        "state": "unsubscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2026-11-25T10:00:00+00:00",
    }
    customer["sms_marketing_consent"] = None
    event = normalise(delivery("customers/update"), json.dumps(customer).encode(), RAW)
    row = build_row(table_schema("customer_events"), event_values(event, datetime.now(UTC)))
    assert row["email_marketing_consent"] == {
        "state": "unsubscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2026-11-25T10:00:00.000Z",
    }
    assert row["sms_marketing_consent"] is None
