"""What managers read in Messenger: one template per event type, all in this module.

Change the wording here and nowhere else. A template takes the canonical event (plus
a few links) and returns a ``Rendered`` message: the text, and at most three URL
buttons. ``to_manychat`` turns it into ManyChat's dynamic-block content (``v2``) and
enforces Messenger's limits:

* a plain text message holds at most 2,000 characters;
* a text *with buttons* becomes Messenger's button template, whose text holds at most
  640 characters, with 1 to 3 buttons whose captions hold at most 20 characters.

A short text goes out as one message with its buttons; a longer one as the full text
(cut to 2,000 characters) followed by a short line carrying the buttons, so nothing a
manager needs is silently dropped by Messenger.

Customer-written text (names, notes, addresses, item titles of e-mail and form orders,
cancel reasons) goes through ``inert`` first: Messenger turns URLs, bare domains, e-mail
addresses and phone numbers in a message into links, and a note such as "pay at
shop-refund.example/pay" must not become a tappable link in the shop's own bot. ``inert``
keeps the text readable and breaks the patterns: the dot before a domain label becomes
ONE DOT LEADER (U+2024, looks like a dot), ``://`` gets a WORD JOINER (U+2060) after the
colon, ``@`` between words becomes FULLWIDTH COMMERCIAL AT, and a run of 7 or more digits
that reads as a phone number gets a WORD JOINER between its digits. The only links in a
manager's message are our own buttons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orderhub.event import Event
from orderhub.money import format_money

TEXT_LIMIT = 2000
BUTTON_TEXT_LIMIT = 640
MAX_BUTTONS = 3
BUTTON_CAPTION_LIMIT = 20
#: How many line items a message lists before "+N more".
MAX_ITEMS = 10
ELLIPSIS = "…"

#: Event types that reach the managers. ``order.updated`` deliberately does not.
NOTIFIED_TYPES = (
    "order.created",
    "order.cancelled",
    "payload.quarantined",
    "privacy.requested",
    "contact.touched",  # the first touch of each contact only (see notifier.ANNOUNCED_ONCE)
)


@dataclass(frozen=True)
class Button:
    caption: str
    url: str


@dataclass(frozen=True)
class Rendered:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Links:
    """Where a button may point. ``order_url`` is a template with ``{order_id}`` and
    ``{shop}`` for orders that are not Shopify's (e-mail, form); empty means no button."""

    order_url: str = ""


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


_DOMAIN_DOT = re.compile(r"(?<=\w)\.(?=[^\W\d_])")
_SCHEME = re.compile(r":(?=//)")
_AT = re.compile(r"(?<=\w)@(?=\w)")
_PHONE = re.compile(r"\+?\d(?:[\d\s().\-/]*\d)?")
WORD_JOINER = "\u2060"


def _break_digits(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(c.isdigit() for c in text) < 7:
        return text
    return re.sub(r"(?<=\d)(?=\d)", WORD_JOINER, text)


def inert(text: str, *, phones: bool = True) -> str:
    """Customer-written ``text`` that Messenger will not turn into links (see above).

    ``phones=False`` leaves phone numbers tappable (the customer's own phone field)."""
    text = _SCHEME.sub(":" + WORD_JOINER, text)
    text = _DOMAIN_DOT.sub("\u2024", text)
    text = _AT.sub("\uff20", text)
    if phones:
        text = _PHONE.sub(_break_digits, text)
    return text


def _money(value: Any, currency: str | None = None) -> str:
    if isinstance(value, Mapping):
        currency = str(value.get("currency") or currency or "")
        value = value.get("amount")
    return format_money(value, currency, missing="?")


def _address(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    parts = [
        value.get("address1"),
        value.get("address2"),
        " ".join(p for p in (value.get("zip"), value.get("city")) if p) or None,
        value.get("province"),
        value.get("country") or value.get("country_code"),
    ]
    text = ", ".join(str(p) for p in parts if p)
    return inert(text) if text else None


def _source_label(source: str) -> str:
    if source == "shopify":
        return "Shopify"
    if source.startswith("email:"):
        return f"e-mail ({source.split(':', 1)[1]})"
    if source == "manual":
        return "order form"
    if source == "pubsub":
        return "the event bus (Pub/Sub)"
    if source == "manychat":
        return "the chat-bot (ManyChat)"
    return source


def order_url(event: Event, links: Links) -> str | None:
    """The link a manager taps: Shopify admin for Shopify orders, else ``links.order_url``."""
    order = event["entity"]
    order_id = str(order.get("order_id") or event["entity_id"])
    if event["source"] == "shopify" and event["shop"]:
        return f"https://{event['shop']}/admin/orders/{order_id}"
    if links.order_url:
        from urllib.parse import quote

        return links.order_url.format(order_id=quote(order_id, safe=""), shop=event["shop"])
    return None


def _order_label(order: Mapping[str, Any], event: Event) -> str:
    return inert(str(order.get("name") or order.get("number") or event["entity_id"]))


def _item_lines(order: Mapping[str, Any]) -> list[str]:
    items = list(order.get("line_items") or [])
    lines = []
    for item in items[:MAX_ITEMS]:
        title = str(item.get("title") or "?")
        if item.get("variant_title"):
            title += f" ({item['variant_title']})"
        title = inert(title)
        quantity = item.get("quantity") or 0
        lines.append(f"• {quantity} × {title} — {_money(item.get('unit_price'))}")
    if len(items) > MAX_ITEMS:
        lines.append(f"• +{len(items) - MAX_ITEMS} more")
    return lines


def _order_details(order: Mapping[str, Any], event: Event) -> list[str]:
    customer = order.get("customer") or {}
    shipping = order.get("shipping_address") or {}
    lines = [f"From: {_source_label(event['source'])}"]
    name = customer.get("name") or shipping.get("name")
    phone = customer.get("phone") or shipping.get("phone")
    who = inert(str(name)) if name else "—"
    lines.append(f"Customer: {who}" + (f", {inert(str(phone), phones=False)}" if phone else ""))
    items = _item_lines(order)
    if items:
        lines.append("Items:")
        lines += items
    lines.append(f"Total: {_money(order.get('total'), order.get('currency'))}")
    address = _address(shipping)
    if address:
        lines.append(f"Deliver to: {address}")
    if order.get("note"):
        lines.append(f"Note: {inert(str(order['note']))}")
    return lines


def order_created(event: Event, links: Links) -> Rendered:
    order = event["entity"]
    lines = [f"🛒 New order {_order_label(order, event)}", *_order_details(order, event)]
    url = order_url(event, links)
    return Rendered("\n".join(lines), (Button("Open order", url),) if url else ())


def order_cancelled(event: Event, links: Links) -> Rendered:
    order = event["entity"]
    lines = [f"❌ Order {_order_label(order, event)} was cancelled"]
    if order.get("cancel_reason"):
        lines.append(f"Reason: {inert(str(order['cancel_reason']))}")
    lines += _order_details(order, event)
    url = order_url(event, links)
    return Rendered("\n".join(lines), (Button("Open order", url),) if url else ())


def payload_quarantined(event: Event, links: Links) -> Rendered:
    entity = event["entity"]
    kind = str(entity.get("kind") or "payload")
    if kind == "shopify_sync":  # a CRM record that Shopify refused (orderhub.shopify_sync)
        return Rendered(
            f"⚠️ Not in Shopify: {entity.get('topic') or event['entity_id']}"
            f" from {_source_label(event['source'])}\n"
            f"Reason: {cut(str(entity.get('reason') or '?'), 300)}\n"
            "See sync_status; scripts/resync sends it again after a fix."
        )
    what = {
        "shopify_webhook": "webhook",
        "pubsub_message": "message",
        "manychat_request": "contact",
    }.get(kind, kind)
    lines = [
        f"⚠️ A {what} from {_source_label(event['source'])} could not be read",
        f"Reason: {cut(inert(str(entity.get('reason') or '?')), 300)}",
    ]
    if entity.get("topic"):
        lines.append(f"Topic: {entity['topic']}")
    lines.append(f"Kept in quarantine as {event['entity_id']}")
    return Rendered("\n".join(lines))


PRIVACY_ASKS = {
    "customers/data_request": "a customer asks for the data we hold about them",
    "customers/redact": "a customer's personal data must be erased",
    "shop/redact": "all of the shop's data must be erased",
}


def privacy_requested(event: Event, links: Links) -> Rendered:
    entity = event["entity"]
    request = str(entity.get("request") or "")
    lines = [
        f"🔒 Privacy request from Shopify: {PRIVACY_ASKS.get(request, request)}",
        "Act within 30 days (docs/privacy.md).",
    ]
    if entity.get("customer_id"):
        lines.append(f"Customer id: {entity['customer_id']}")
    if entity.get("order_ids"):
        lines.append(cut("Orders: " + ", ".join(entity["order_ids"]), 300))
    return Rendered("\n".join(lines))


def contact_touched(event: Event, links: Links) -> Rendered:
    """A new chat contact, with a button to take the conversation in ManyChat's live chat."""
    contact = event["entity"]
    lines = [f"👋 New chat contact: {contact.get('name') or contact.get('contact_id')}"]
    phone = contact.get("phone")
    if phone:
        lines.append(f"Phone: {phone}" + ("" if contact.get("phone_valid") else " (as typed)"))
    if contact.get("email"):
        lines.append(f"E-mail: {contact['email']}")
    origin = [
        f"{label} {contact[key]}"
        for key, label in (("touch_source", "from"), ("campaign", "campaign"), ("ad", "ad"))
        if contact.get(key)
    ]
    if origin:
        lines.append(cut("Came " + ", ".join(origin), 300))
    if contact.get("channel") and contact["channel"] != "messenger":
        lines.append(f"Channel: {CHANNEL_NAMES.get(str(contact['channel']), contact['channel'])}")
    if contact.get("ig_username"):
        lines.append(f"Instagram: @{contact['ig_username']}")
    if contact.get("tt_username"):
        lines.append(f"TikTok: @{contact['tt_username']}")
    if contact.get("tags"):
        lines.append(cut("Tags: " + ", ".join(contact["tags"]), 200))
    url = str(contact.get("live_chat_url") or "")
    channel = str(contact.get("channel") or "messenger")
    caption = LIVE_CHAT_CAPTIONS.get(channel, "Open live chat")
    button = (Button(caption, url),) if url.startswith(("https://", "http://")) else ()
    return Rendered("\n".join(lines), button)


#: A chat contact's channel → its live-chat button (ManyChat's live chat answers in the
#: contact's own channel), at most ``BUTTON_CAPTION_LIMIT`` characters.
LIVE_CHAT_CAPTIONS = {
    "messenger": "Open live chat",
    "whatsapp": "Open WhatsApp chat",
    "instagram": "Open Instagram chat",
    "tiktok": "Open TikTok chat",
    "telegram": "Open Telegram chat",
}
CHANNEL_NAMES = {"whatsapp": "WhatsApp", "instagram": "Instagram", "tiktok": "TikTok",
                 "telegram": "Telegram"}  # fmt: skip

#: event_type → template. Add a type here (and to ``NOTIFIED_TYPES``) to notify on it.
TEMPLATES: dict[str, Callable[[Event, Links], Rendered]] = {
    "order.created": order_created,
    "order.cancelled": order_cancelled,
    "payload.quarantined": payload_quarantined,
    "privacy.requested": privacy_requested,
    "contact.touched": contact_touched,
}


def render(event: Event, links: Links = Links()) -> Rendered | None:
    """The message for this event, or ``None`` when its type does not notify."""
    template = TEMPLATES.get(event["event_type"])
    return template(event, links) if template else None


def to_manychat(rendered: Rendered) -> list[dict[str, Any]]:
    """ManyChat v2 ``messages`` within Messenger's limits (see the module docstring)."""
    buttons = [
        {"type": "url", "caption": cut(b.caption, BUTTON_CAPTION_LIMIT), "url": b.url}
        for b in rendered.buttons[:MAX_BUTTONS]
    ]
    if not buttons:
        return [{"type": "text", "text": cut(rendered.text, TEXT_LIMIT)}]
    if len(rendered.text) <= BUTTON_TEXT_LIMIT:
        return [{"type": "text", "text": rendered.text, "buttons": buttons}]
    first_line = rendered.text.split("\n", 1)[0]
    return [
        {"type": "text", "text": cut(rendered.text, TEXT_LIMIT)},
        {"type": "text", "text": cut(first_line, BUTTON_TEXT_LIMIT), "buttons": buttons},
    ]
