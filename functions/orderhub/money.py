"""Money as people read it: ``409.94 USD``, ``1,200 JPY``, ``1.500 KWD``.

The one place that formats an amount for display: the managers' messages
(``notifier.templates``), the CRM app's pages, the chat-bot's product cards and the local
demo's tables. BigQuery's NUMERIC gives ``409.940000000``; the currency's minor unit (ISO
4217) says how many decimals to show: two for most, none for the yen or the won, three for
the Gulf dinars. Thousands are grouped with commas; halves round up.

The minor units are a small fixed table of the ISO 4217 exponents that are not 2, not a
library: ISO 4217 changes them very rarely; Babel (``get_currency_precision``), the
well-kept library that knows them, is not a dependency and would bring the whole CLDR locale
data (tens of MB) into every deployed function for this one look-up; and its answer is
CLDR's display convention, which is not ISO 4217's exponent for every currency.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

#: ISO 4217 currencies whose minor unit is not 2 (the rest have cents).
MINOR_UNITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}


def code(currency: Any) -> str:
    """The currency's code as shown (``usd`` → ``USD``); ``""`` for none."""
    return str(currency or "").strip().upper()


def minor_units(currency: Any) -> int:
    """How many decimals ``currency`` has (2 when unknown or none)."""
    return MINOR_UNITS.get(code(currency), 2)


def amount(value: Any, currency: Any = None) -> str | None:
    """The number alone in ``currency``'s decimals, grouped (``1,234.50``, ``1,200``);
    ``None`` when ``value`` is not a finite number."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    places = minor_units(currency)
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) + 0  # no -0
    return f"{rounded:,.{places}f}"


def format_money(value: Any, currency: Any, *, missing: str = "—") -> str:
    """``value`` (Decimal, str, int) and its currency as people write them (``409.94 USD``);
    ``missing`` when there is no value; the value as given when it is not a number."""
    if value is None or value == "":
        return missing
    shown = amount(value, currency)
    return f"{value if shown is None else shown} {code(currency)}".strip()
