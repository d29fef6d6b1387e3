"""The Shopify stand-in checks ``orderCreate``'s ``transactions`` as Shopify does (issue 24):
amounts positive and in the order's currency, sales no more than the total, and the
financial status follows what was paid."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from devstack.standins.shopify_writes import _transactions


def sale(amount: str, currency: str = "EUR", kind: str = "SALE") -> dict[str, Any]:
    return {
        "kind": kind,
        "status": "SUCCESS",
        "amountSet": {"shopMoney": {"amount": amount, "currencyCode": currency}},
    }


def test_a_sale_of_the_total_is_paid_and_less_is_partly_paid() -> None:
    assert _transactions({"transactions": [sale("23.00")]}, "EUR", Decimal("23")) == ("paid", [])
    assert _transactions({"transactions": [sale("10")]}, "EUR", Decimal("23")) == (
        "partially_paid",
        [],
    )
    shipping = {"shippingLines": [{"priceSet": {"shopMoney": {"amount": "5"}}}]}
    assert (
        _transactions({**shipping, "transactions": [sale("28")]}, "EUR", Decimal("23"))[0] == "paid"
    )


def test_wrong_transactions_are_refused() -> None:
    for bad in (sale("30.00"), sale("0"), sale("23.00", "USD"), sale("23.00", kind="REFUND")):
        _status, errors = _transactions({"transactions": [bad]}, "EUR", Decimal("23"))
        assert errors and all(e["code"] == "INVALID" for e in errors), bad
