"""Money is shown in the currency's own minor units everywhere a person reads it: the
managers' messages, the CRM app, the chat-bot's cards (orderhub.money)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from orderhub import money
from orderhub.chatbot import catalogue
from orderhub.notifier.templates import render
from orderhub.order_form import pages as web
from tests.unit.test_chatbot_catalogue import LINKS, ask, cards, product
from tests.unit.test_templates import shopify_event


@pytest.mark.parametrize(
    ("currency", "units"), [("USD", 2), ("jpy", 0), ("KWD", 3), ("CLF", 4), ("", 2), (None, 2)]
)
def test_each_currency_has_its_minor_units(currency: str | None, units: int) -> None:
    assert money.minor_units(currency) == units


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (Decimal("409.940000000"), "USD", "409.94 USD"),
        (1200, "JPY", "1,200 JPY"),
        ("1200.00", "JPY", "1,200 JPY"),
        ("1200.50", "JPY", "1,201 JPY"),  # halves round up
        ("-0.001", "USD", "0.00 USD"),  # no "-0.00"
        ("n/a", "USD", "n/a USD"),  # not a number: shown as given
        ("Infinity", "USD", "Infinity USD"),
        ("12.5", None, "12.50"),
    ],
)
def test_amounts_are_shown_in_their_currencys_decimals(
    value: object, currency: str | None, shown: str
) -> None:
    assert money.format_money(value, currency) == shown


def test_the_crm_app_shows_yen_without_decimals() -> None:
    assert web.money("1200.000000000", "JPY") == "1,200 JPY"
    assert web.number("1200.000000000", "JPY") == "1,200"
    assert web.money("409.940000000", "USD") == "409.94 USD"
    assert web.number("3.5", "USD") == "3.50"
    assert web.money("3.5") == "3.50"
    assert web.money(None, "JPY") == web.number(None, "JPY") == ""


def test_the_managers_message_shows_yen_without_decimals() -> None:
    event = shopify_event(
        currency="JPY",
        total_price="1200.00",
        line_items=[
            {
                "id": 1,
                "title": "Matcha",
                "quantity": 1,
                "price": "1200.00",
                "sku": "M1",
                "total_discount": "0.00",
            }
        ],
    )
    rendered = render(event)
    assert rendered is not None
    assert "Total: 1,200 JPY" in rendered.text
    assert "Matcha — 1,200 JPY" in rendered.text
    assert ".00 JPY" not in rendered.text


def test_the_chat_bots_cards_show_yen_without_decimals() -> None:
    variant = catalogue.Variant("1", "Default", None, Decimal("1200"), 1)
    links = dataclasses.replace(LINKS, currency="JPY")
    answer = catalogue.reply([product(1, variants=(variant,))], ask(), links)
    assert cards(answer)[0]["subtitle"] == "1,200 JPY · in stock"
