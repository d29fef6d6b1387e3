"""Customer-written text in a manager's message never becomes a link (issue 11 item 6).

Messenger turns URLs, bare domains, e-mail addresses and phone numbers into links. A
customer's note, name or address reaches the managers through the shop's own bot, so a
"pay here: evil.example/pay" in a note would be a phishing link with the shop's trust.
``LINKIFIER`` approximates what linkifiers look for (scheme URLs, ``www.``, a dotted name
ending in a letter label, ``user@host``, 7+ digit phone runs); the only links left must
be our own buttons, and the text must still read the same to a person.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from orderhub.notifier.templates import inert, render, to_manychat
from tests.unit.test_templates import order_event, sendable, shopify_event

LINKIFIER = [
    re.compile(r"[a-z][a-z0-9+.-]*://", re.I),
    re.compile(r"\bwww\.", re.I),
    re.compile(r"[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}"),
    re.compile(r"[\w.+-]+@[\w-]+"),
    re.compile(r"\+?\d(?:[\s().-]*\d){6,}"),
]
HOSTILE = [
    "pay at https://shop-refund.example/pay?id=1 today",
    "see www.evil.example",
    "refund via evil-shop.com/refund",
    "write to scam@evil.example",
    "call me on +44 20 7946 0958 or 020-7946-0958",
    "Обмен на сайте магазин.рф",
]


def links(text: str) -> list[str]:
    return [m.group(0) for pattern in LINKIFIER for m in pattern.finditer(text)]


def as_read(text: str) -> str:
    """What a person reads: the look-alike characters as what they look like."""
    return text.replace("\u2024", ".").replace("\u2060", "").replace("\uff20", "@")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_inert_text_has_no_link_and_reads_the_same(hostile: str):
    assert links(hostile)  # the linkifier would link the original
    made_safe = inert(hostile)
    assert links(made_safe) == []
    assert as_read(made_safe) == hostile


def test_plain_text_is_untouched():
    for text in ("Ring twice, 3rd floor", "Flat 12, Main St. 5", "1.5 kg, 10115 Berlin", "#1001"):
        assert inert(text) == text


def hostile_order(text: str) -> Any:
    entity = {
        "order_id": "77",
        "name": "#77",
        "currency": "EUR",
        "total": {"amount": "10", "currency": "EUR"},
        "customer": {"name": f"Eve {text}", "phone": "+49 30 1234567"},
        "shipping_address": {"address1": text, "city": "Berlin", "zip": "10115"},
        "line_items": [
            {"title": text, "quantity": 1, "unit_price": {"amount": "10", "currency": "EUR"}}
        ],
        "note": text,
        "cancel_reason": text,
    }
    return entity


@pytest.mark.parametrize("event_type", ["order.created", "order.cancelled"])
@pytest.mark.parametrize("source", ["email:kiire", "manual", "shopify"])
def test_no_customer_text_becomes_a_link_in_an_order_message(event_type: str, source: str):
    text = "pay at https://evil.example/x, scam@evil.example, evil-shop.com, +44 20 7946 0958"
    rendered = render(order_event(source, hostile_order(text), event_type))
    assert rendered is not None
    body = "\n".join(m["text"] for m in to_manychat(rendered))
    customer_phone = "+49 30 1234567"
    assert links(body.replace(customer_phone, "")) == []
    assert as_read(body).count("https://evil.example/x") >= 3  # still readable, as written
    assert customer_phone in body  # the customer's own phone stays tappable
    assert sendable(to_manychat(rendered))


def test_a_shopify_note_with_a_link_is_not_a_link():
    rendered = render(shopify_event(note="Leave it with my neighbour, details at evil.example/a"))
    assert rendered is not None
    note = next(line for line in rendered.text.splitlines() if line.startswith("Note:"))
    assert links(note) == []
    assert rendered.buttons[0].url.startswith("https://shop.myshopify.com/admin/orders/")
