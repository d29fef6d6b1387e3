"""The demo prints money as people write it, in the currency's own decimals."""

from decimal import Decimal

import pytest

from orderhub.money import format_money


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("409.940000000"), "USD", "409.94 USD"),  # BigQuery NUMERIC, as the view gives it
        ("199", "EUR", "199.00 EUR"),
        (Decimal("1234567.5"), "uah", "1,234,567.50 UAH"),
        (Decimal("1500.000000000"), "JPY", "1,500 JPY"),
        (Decimal("1.5"), "KWD", "1.500 KWD"),
        (Decimal("0.005"), "USD", "0.01 USD"),
        (Decimal("-12.3"), "USD", "-12.30 USD"),
        (None, "USD", "—"),
    ],
)
def test_money_is_printed_as_people_write_it(amount: object, currency: str, shown: str) -> None:
    assert format_money(amount, currency) == shown
