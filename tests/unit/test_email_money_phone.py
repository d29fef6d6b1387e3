"""Money and phone numbers as delivery-service mails write them."""

import pytest

from orderhub.sources.email import Unreadable, parse_money, parse_phone


@pytest.mark.parametrize(
    ("text", "default", "amount", "currency"),
    [
        ("9,73 €", None, "9.73", "EUR"),
        ("€9.73", None, "9.73", "EUR"),
        ("1 234,50 грн", None, "1234.50", "UAH"),
        ("1\u00a0234,50\u00a0грн", None, "1234.50", "UAH"),  # non-breaking spaces, as in HTML
        ("1\u202f234,50 ₴", None, "1234.50", "UAH"),
        ("1.234,50 €", None, "1234.50", "EUR"),
        ("$1,234.50", None, "1234.50", "USD"),
        ("245 грн", None, "245.00", "UAH"),
        ("Total: 12,5 EUR", None, "12.50", "EUR"),
        ("-2,66 €", None, "-2.66", "EUR"),
        ("−30,00 грн", None, "-30.00", "UAH"),  # a typographic minus
        ("84,00", "UAH", "84.00", "UAH"),  # no sign: the rules' default currency
        ("1,234", "USD", "1234.00", "USD"),  # three digits after the only comma: thousands
    ],
)
def test_money_in_local_formats(text, default, amount, currency):
    assert parse_money(text, default) == {"amount": amount, "currency": currency}


@pytest.mark.parametrize(
    ("text", "default"), [("—", "UAH"), ("ціну уточнюйте", "UAH"), ("9,73", None)]
)
def test_unreadable_money_is_refused_not_guessed(text, default):
    with pytest.raises(Unreadable):
        parse_money(text, default)


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        ("067 123 45 67", "UA", "+380671234567"),
        ("+38 (050) 765-43-21", "UA", "+380507654321"),
        ("912 345 678", "PT", "+351912345678"),
        ("+351 936 112 233", "UA", "+351936112233"),  # an explicit country code wins
    ],
)
def test_phones_become_e164(text, region, e164):
    assert parse_phone(text, region) == e164


@pytest.mark.parametrize("text", ["12345", "not a phone", "+380 12"])
def test_invalid_phones_are_refused(text):
    with pytest.raises(Unreadable):
        parse_phone(text, "UA")
