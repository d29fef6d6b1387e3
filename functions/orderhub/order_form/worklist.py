"""How the orders list groups and names what it shows, and who may be assigned. No Flask.

* ``days``: the page's rows grouped by their day in the shop's time zone
  (``SHOP_TIME_ZONE``), each with the day's count and revenue, which ``queries.list_orders``
  counts over every order the filter holds (not only the page's rows; cancelled and
  refunded orders are counted, not summed).
* ``row_source``: a row's source in words: ``Kiire (e-mail)``, ``Shopify``, ``Chat-bot``
  (an order that names the chat contact who brought it), ``Phone order`` (the form).
* ``assignable``: the active managers an order can be assigned to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from orderhub.money import format_money

#: Row sources in words (``email:<service>`` reads ``<Service> (e-mail)``).
ROW_SOURCES = {"shopify": "Shopify", "manual": "Phone order", "manychat": "Chat-bot"}


def row_source(row: dict[str, Any]) -> str:
    """The source a list row shows: the chat-bot when the order names its chat contact."""
    source = str(row.get("source") or "")
    if row.get("chat_contact"):
        return "Chat-bot"
    if source.startswith("email:"):
        service = source.split(":", 1)[1].split(":")[0]
        return service.replace("_", " ").replace("-", " ").title() + " (e-mail)"
    return ROW_SOURCES.get(source, source)


def _day_label(day: Any) -> str:
    if isinstance(day, date):
        return day.strftime("%a %d %b %Y")
    return str(day or "")


@dataclass
class Day:
    day: Any
    count: int
    revenue: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return _day_label(self.day)

    @property
    def key(self) -> str:
        return self.day.isoformat() if isinstance(self.day, date) else str(self.day or "")


def _revenue(row: dict[str, Any]) -> str:
    return format_money(row.get("day_revenue") or 0, row.get("currency"))


def day_heading(row: dict[str, Any]) -> dict[str, Any]:
    """A row's day for the list's refresh: its key, label, count and revenue."""
    return {
        "key": row["day"].isoformat() if isinstance(row.get("day"), date) else "",
        "label": _day_label(row.get("day")),
        "count": int(row.get("day_count") or 0),
        "revenue": _revenue(row),
    }


def days(rows: Sequence[dict[str, Any]]) -> list[Day]:
    """The rows (newest first) grouped by day, in order."""
    found: list[Day] = []
    for row in rows:
        if not found or found[-1].day != row.get("day"):
            found.append(Day(row.get("day"), int(row.get("day_count") or 0), []))
        current = found[-1]
        shown = _revenue(row)
        if shown not in current.revenue and not any(
            r.get("currency") == row.get("currency") for r in current.rows
        ):
            current.revenue.append(shown)
        current.rows.append(row)
    return found


class Managers(Protocol):
    def list(self) -> Sequence[Any]: ...


def assignable(managers: Managers) -> dict[str, str]:
    """Active managers, sign-in name → display name, by name."""
    active = [m for m in managers.list() if m.active]
    return {m.id: m.name for m in sorted(active, key=lambda m: (m.name.lower(), m.id))}
