"""Money as people write it: ``409.94 USD``, not BigQuery's NUMERIC ``409.940000000 USD``.

The number of decimals is the currency's minor unit (ISO 4217): two for most, none for
the yen or the won, three for the Gulf dinars. Thousands are grouped with commas, as the
demo's English output writes them.
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


def format_money(amount: Any, currency: str | None) -> str:
    """``amount`` (Decimal, str, int) in ``currency``'s decimals; ``—`` when there is none."""
    if amount is None or amount == "":
        return "—"
    code = (currency or "").strip().upper()
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return f"{amount} {code}".strip()
    places = MINOR_UNITS.get(code, 2)
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f} {code}".strip()
