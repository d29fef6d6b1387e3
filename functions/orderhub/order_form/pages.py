"""How a view answers: a page of the one layout, a short message, a redirect.

Every template in ``templates/`` extends ``layout.html`` and is rendered by Flask's Jinja
environment, which escapes every value: whatever a manager, a customer or the catalogue
typed is shown as text, never as markup. ``app``'s context processor gives each page
``base`` (the app's path prefix), ``me`` (the signed-in manager) and ``csrf`` (their
session's token).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, render_template

from orderhub.money import amount, format_money
from orderhub.order_form.wiring import wiring


def base() -> str:
    """The path the app is served below (``ORDER_FORM_BASE_PATH``), or ``""``."""
    return wiring().settings.base_path


def page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def message(heading: str, text: str, status: int, *, back: str = "/orders") -> Response:
    """What happened and what to do; its button leads ``back`` (``/``: to the form)."""
    return page("message.html", status, heading=heading, text=text, back=back)


def redirect(path: str) -> Response:
    """303 to ``path`` below the app's base path."""
    response = Response("", status=303)
    response.headers["Location"] = base() + path
    return response


def render(template: str, **context: Any) -> str:
    """A template's HTML for exactly ``context``, outside any request (a preview; a check
    that what was typed comes out escaped): the app's own Jinja environment."""
    from orderhub.order_form.app import create_app

    return str(create_app().jinja_env.get_template(template).render(**context))


# ------------------------------------------------------------------ the templates' filters
def money(value: Any, currency: Any = "") -> str:
    """``1,234.50 USD``, ``1,200 JPY`` (``orderhub.money``); ``""`` when not a number."""
    return format_money(value, currency) if amount(value, currency) is not None else ""


def number(value: Any, currency: Any = "") -> str:
    """The amount alone in the currency's decimals (``1,200`` for yen); ``""`` if none."""
    return amount(value, currency) or ""


def when(value: Any) -> str:
    """A time in the shop's time zone (``SHOP_TIME_ZONE``), e.g. ``2026-12-07 12:01 EET``."""
    if isinstance(value, datetime):
        zone = ZoneInfo(wiring().settings.time_zone)
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    return str(value or "")


#: Sources in words (the data keeps ``email:<service>``, ``manual``, ...).
SOURCE_NAMES = {
    "shopify": "Shopify",
    "manual": "Order form",
    "chatbot": "Chat-bot",
    "manychat": "Chat-bot",
    "CRM": "CRM",
}


def source_name(value: Any) -> str:
    """``email:kiire`` → ``E-mail · Kiire``; ``manual`` → ``Order form``."""
    text = str(value or "")
    if text.startswith("email:"):
        return "E-mail · " + text.split(":", 1)[1].replace("_", " ").replace("-", " ").title()
    return SOURCE_NAMES.get(text, text)
