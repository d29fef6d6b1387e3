"""What a manager reads: templates per event type, within Messenger's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.standins.manychat import validate
from orderhub.event import make_event
from orderhub.notifier.templates import (
    BUTTON_TEXT_LIMIT,
    TEXT_LIMIT,
    Button,
    Links,
    Rendered,
    render,
    to_manychat,
)
from orderhub.sources.shopify import Delivery, normalise
from tests.conftest import load_json

RAW = {
    "raw_id": "r1",
    "kind": "shopify_webhook",
    "received_at": "2026-01-01T00:00:00Z",
    "sha256": "00",
}
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def shopify_event(topic: str = "orders/create", **changes: Any) -> Any:
    order = {**load_json("shopify/shopify_python_api__order.json")["order"], **changes}
    delivery = Delivery(topic, "shop.myshopify.com", "w1", "e1", None, AT)
    return normalise(delivery, json.dumps(order).encode(), RAW)


def order_event(source: str, entity: dict[str, Any], event_type: str = "order.created") -> Any:
    return make_event(
        event_type=event_type,
        source=source,
        shop="shop-key",
        occurred_at=AT,
        version=1,
        entity_id=entity["order_id"],
        entity=entity,
    )


def sendable(messages: list[dict[str, Any]]) -> bool:
    """Whether ManyChat (as our stand-in checks it) would accept these messages."""
    body = {"subscriber_id": 1, "data": {"version": "v2", "content": {"messages": messages}}}
    return validate(body) == []


def test_new_shopify_order_names_everything_a_manager_needs():
    rendered = render(shopify_event(note="Leave at the door"))
    assert rendered is not None
    text = rendered.text
    assert "New order #1001" in text
    assert "Shopify" in text
    assert "Bob Norman" in text and "555-625-1199" in text
    assert "IPod Nano - 8gb (green)" in text and "1 ×" in text
    assert "409.94 USD" in text
    assert "Chestnut Street 92" in text and "Louisville" in text
    assert "Leave at the door" in text
    assert rendered.buttons == (
        Button("Open order", "https://shop.myshopify.com/admin/orders/450789469"),
    )


def test_short_order_is_one_text_with_its_button():
    messages = to_manychat(render(shopify_event()))
    assert len(messages) == 1
    assert messages[0]["buttons"][0]["url"].endswith("/admin/orders/450789469")
    assert len(messages[0]["text"]) <= BUTTON_TEXT_LIMIT
    assert sendable(messages)


def test_email_order_links_to_the_configured_order_page():
    entity = {
        "order_id": "m-42",
        "name": "DS-42",
        "currency": "EUR",
        "total": {"amount": "12.5", "currency": "EUR"},
        "customer": {"name": "Ann", "phone": "+49 30 1234"},
        "line_items": [],
    }
    event = order_event("email:dpd", entity)
    rendered = render(event, Links(order_url="https://crm.example/orders/{order_id}"))
    assert "e-mail (dpd)" in rendered.text and "12.50 EUR" in rendered.text
    assert rendered.buttons[0].url == "https://crm.example/orders/m-42"
    assert render(event).buttons == ()  # no link configured: no dead button


def test_manual_order_says_it_came_from_the_form():
    entity = {"order_id": "f-1", "currency": "USD", "total": {"amount": "5", "currency": "USD"}}
    assert "order form" in render(order_event("manual", entity)).text


def test_cancellation_says_so_with_the_reason():
    event = shopify_event(
        "orders/cancelled", cancelled_at="2008-01-10T11:00:00-05:00", cancel_reason="customer"
    )
    rendered = render(event)
    assert rendered.text.startswith("❌ Order #1001 was cancelled")
    assert "Reason: customer" in rendered.text


def test_updates_do_not_notify():
    assert render(shopify_event("orders/updated")) is None


def test_quarantine_alert_is_short_and_names_the_reason():
    event = make_event(
        event_type="payload.quarantined",
        source="shopify",
        shop="shop",
        occurred_at=AT,
        version=1,
        entity_id="raw-1",
        entity={
            "reason": "order has no currency",
            "kind": "shopify_webhook",
            "topic": "orders/create",
            "ref": "w1",
        },
    )
    rendered = render(event)
    assert "could not be read" in rendered.text
    assert "order has no currency" in rendered.text and "raw-1" in rendered.text
    assert len(rendered.text) <= BUTTON_TEXT_LIMIT
    assert sendable(to_manychat(rendered))


def test_a_huge_order_is_split_within_messenger_limits():
    items = [
        {"title": f"Product {i} " + "x" * 60, "quantity": i, "price": "1.00"} for i in range(1, 40)
    ]
    rendered = render(shopify_event(line_items=items, note="n" * 3000))
    messages = to_manychat(rendered)
    assert len(rendered.text) > TEXT_LIMIT
    assert len(messages) == 2
    assert len(messages[0]["text"]) == TEXT_LIMIT and messages[0]["text"].endswith("…")
    assert "buttons" not in messages[0]
    assert messages[1]["text"] == "🛒 New order #1001"
    assert messages[1]["buttons"][0]["caption"] == "Open order"
    assert "+29 more" in rendered.text  # ten items listed, the rest counted
    assert sendable(messages)


@pytest.mark.parametrize("length", [BUTTON_TEXT_LIMIT, BUTTON_TEXT_LIMIT + 1])
def test_button_text_limit_is_respected_at_the_edge(length: int):
    buttons = tuple(Button(f"A very long caption number {i}", f"https://x/{i}") for i in range(5))
    messages = to_manychat(Rendered("t" * length, buttons))
    with_buttons = [m for m in messages if "buttons" in m]
    assert len(with_buttons) == 1
    assert len(with_buttons[0]["buttons"]) == 3
    assert all(len(b["caption"]) <= 20 for b in with_buttons[0]["buttons"])
    assert len(messages) == (1 if length <= BUTTON_TEXT_LIMIT else 2)
    assert sendable(messages)


def test_privacy_requests_reach_the_managers_without_personal_data():
    from orderhub.notifier.templates import render

    event = {
        "event_id": "0" * 32,
        "event_type": "privacy.requested",
        "source": "shopify",
        "shop": "s.myshopify.com",
        "occurred_at": "2026-01-01T00:00:00.000Z",
        "version": 1,
        "entity_type": "privacy",
        "entity_id": "customers/redact:42:",
        "entity": {
            "request": "customers/redact",
            "customer_id": "42",
            "order_ids": ["7", "8"],
            "shop_id": "1",
            "data_request_id": None,
            "request_id": "customers/redact:42:",
        },
    }
    rendered = render(event)
    assert rendered is not None
    assert "erased" in rendered.text and "30 days" in rendered.text
    assert "Customer id: 42" in rendered.text and "Orders: 7, 8" in rendered.text
