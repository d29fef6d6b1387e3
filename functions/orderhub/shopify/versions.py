"""Which Admin API version we call, and how long Shopify supports it.

Shopify releases a stable version each quarter (``YYYY-01``, ``-04``, ``-07``, ``-10``) and
supports each for at least 12 months; a request for an unsupported version is answered by
the oldest supported one, and ``X-Shopify-Api-Version`` says which. ``DEFAULT_API_VERSION``
is the one pin (``SHOPIFY_API_VERSION`` moves it per deployment); ``support_warning`` is
logged by each reconciliation run when the pin is within ``WARN_DAYS`` of leaving support.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from orderhub import logs

DEFAULT_API_VERSION = "2026-10"
WARN_DAYS = 90
VERSION = re.compile(r"^(?P<year>\d{4})-(?P<month>01|04|07|10)$")


def support_ends(version: str) -> date | None:
    """The first day Shopify no longer promises to serve ``version`` (release + 12 months);
    None for ``unstable`` or anything that is not a quarterly version."""
    match = VERSION.match(version)
    if not match:
        return None
    return date(int(match["year"]) + 1, int(match["month"]), 1)


def support_warning(version: str, today: date) -> str | None:
    ends = support_ends(version)
    if ends is None:
        return f"Shopify Admin API version {version!r} is not a stable quarterly version"
    if today >= ends - timedelta(days=WARN_DAYS):
        left = (ends - today).days
        state = f"leaves support in {left} days" if left > 0 else "is past support"
        return (
            f"Shopify Admin API version {version} {state} ({ends.isoformat()}):"
            " move SHOPIFY_API_VERSION to a newer version"
        )
    return None


def warn_if_ending(version: str, now: datetime, shop: str | None = None) -> str | None:
    """Log ``support_warning`` (WARNING) when there is one; returns it."""
    message = support_warning(version, now.date())
    if message:
        logs.warning(
            "shopify api version near its end of support",
            detail=message,
            api_version=version,
            support_ends=str(support_ends(version)),
            shop=shop,
        )
    return message


def answered(requested: str, header: str | None, shop: str | None = None) -> None:
    """Log when Shopify answered with another version than the one asked for (it fell
    forward: the pinned version is no longer supported)."""
    if header and header != requested:
        logs.warning(
            "Shopify answered with another Admin API version than requested",
            requested=requested,
            answered=header,
            shop=shop,
        )
