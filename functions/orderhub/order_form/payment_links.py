"""Payment links (issue 22 item 7): send one to the customer, and see which are unpaid.

* ``share``: the customer-facing text and the links that send it: ``sms:`` (RFC 5724,
  ``?body=``) and WhatsApp's click-to-chat (``https://wa.me/<E.164 digits>?text=``); the
  page's Share button uses the Web Share API and falls back to copying.
* ``GET /links``: the payment links the app made that nobody has paid: Shopify's open draft
  orders carrying our ``orderhub`` tag (``draftOrders(query: "status:open tag:orderhub")``),
  newest first, each with its age. A paid link is a completed draft, so it leaves the list
  by itself; Shopify is the one place that knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response

from orderhub import logs
from orderhub.errors import ConfigError, TransientError
from orderhub.order_form import pages
from orderhub.order_form.auth import login_required
from orderhub.order_form.wiring import now, wiring

bp = Blueprint("payment_links", __name__)

#: Drafts the form makes carry this tag (``service.create_link``).
TAG = "orderhub"
#: Links listed, at most (one page of Shopify's draftOrders).
LIST_SIZE = 50

OPEN_LINKS = """
query orderhubOpenPaymentLinks($first: Int!, $query: String!) {
  draftOrders(first: $first, query: $query, sortKey: UPDATED_AT, reverse: true) {
    nodes {
      id
      name
      status
      createdAt
      invoiceUrl
      email
      phone
      tags
      totalPriceSet { shopMoney { amount currencyCode } }
      customAttributes { key value }
    }
  }
}
"""


def message_text(name: str, url: str) -> str:
    return f"Your order {name}: pay here {url}".strip()


def sms_href(phone: str | None, text: str) -> str:
    """``sms:+351912345678?body=…`` (RFC 5724); without a phone the app picks whom."""
    return f"sms:{phone or ''}?body={quote(text, safe='')}"


def whatsapp_href(phone: str | None, text: str) -> str:
    """WhatsApp's click-to-chat: the number as digits only (no +, no spaces)."""
    digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
    return f"https://wa.me/{digits}?text={quote(text, safe='')}"


def share(name: str, url: str, phone: str | None) -> dict[str, str]:
    text = message_text(name, url)
    return {"text": text, "sms": sms_href(phone, text), "whatsapp": whatsapp_href(phone, text)}


@dataclass(frozen=True)
class OpenLink:
    name: str
    url: str
    created_at: datetime
    age: str
    total: str
    currency: str
    phone: str
    email: str
    manager: str


def age(then: datetime, at: datetime) -> str:
    """``5 min``, ``3 h``, ``2 days`` (floored)."""
    seconds = max(0, int((at - then).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def open_links(shopify: Any, at: datetime) -> list[OpenLink]:
    """Open drafts with our tag, newest first: the links not paid yet."""
    data = shopify.graphql(OPEN_LINKS, {"first": LIST_SIZE, "query": f"status:open tag:{TAG}"})
    found: list[OpenLink] = []
    for node in (data.get("draftOrders") or {}).get("nodes") or []:
        if str(node.get("status")) != "OPEN" or TAG not in (node.get("tags") or []):
            continue  # Shopify's search is the filter; this keeps a stray one out
        attrs = {a.get("key"): a.get("value") for a in node.get("customAttributes") or []}
        money = ((node.get("totalPriceSet") or {}).get("shopMoney")) or {}
        created = _parse(str(node["createdAt"]))
        found.append(
            OpenLink(
                name=str(node.get("name") or ""),
                url=str(node.get("invoiceUrl") or ""),
                created_at=created,
                age=age(created, at),
                total=str(money.get("amount") or ""),
                currency=str(money.get("currencyCode") or ""),
                phone=str(node.get("phone") or ""),
                email=str(node.get("email") or ""),
                manager=str(attrs.get("orderhub_manager") or ""),
            )
        )
    return found


@bp.get("/links")
@login_required
def links() -> Response:
    w = wiring()
    if not w.settings.shopify_link_enabled:
        return pages.message("No payment links", "Payment links are not set up here.", 404)
    try:
        found = open_links(w.shopify, now())
    except (TransientError, ConfigError) as exc:
        logs.error("open payment links unreadable", error=str(exc))
        return pages.message("Please try again", "Shopify did not answer just now.", 503)
    shares = {link.name: share(link.name, link.url, link.phone) for link in found}
    return pages.page("links.html", found=found, shares=shares)
