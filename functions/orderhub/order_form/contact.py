"""Contact in one tap: the call, Messenger, WhatsApp and Viber links of a customer. No Flask.

``links`` builds them from the customer's phone (read by ``orderhub.phones``, so a number
stored as typed still dials) and their ManyChat contact, whose ``live_chat_url`` opens the
conversation in ManyChat's inbox and whose name is shown instead of its id. Only ``https``
links from data are used, so a stored value can never become a ``javascript:`` link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orderhub import phones

#: The chat channel a contact writes from → what its live-chat button says.
CHANNEL_LABELS = {
    "messenger": "Messenger",
    "whatsapp": "WhatsApp chat",
    "instagram": "Instagram chat",
    "tiktok": "TikTok chat",
    "telegram": "Telegram chat",
}


def contact_name(contact: Mapping[str, Any] | None) -> str:
    """The chat contact's name (``name``, else first and last), else ``""``."""
    if not contact:
        return ""
    name = str(contact.get("name") or "").strip()
    if name:
        return name
    parts = (contact.get("first_name"), contact.get("last_name"))
    return " ".join(str(p) for p in parts if p).strip()


def links(
    phone: str | None, contact: Mapping[str, Any] | None, *, default_country: str
) -> list[dict[str, str]]:
    """``[{kind, href, label}]``: call, the contact's live chat (labelled with its channel:
    Messenger, WhatsApp, Instagram, ...), WhatsApp, Viber."""
    found: list[dict[str, str]] = []
    e164, valid = phones.e164_or_typed(phone, default_country)
    digits = e164[1:] if valid and e164 else ""
    if digits:
        found.append({"kind": "call", "href": f"tel:+{digits}", "label": f"Call +{digits}"})
    live = str((contact or {}).get("live_chat_url") or "")
    if live.startswith("https://"):
        name = contact_name(contact)
        channel = str((contact or {}).get("channel") or "messenger")
        where = CHANNEL_LABELS.get(channel, CHANNEL_LABELS["messenger"])
        found.append(
            {
                # ManyChat's live chat answers in the contact's own channel (WhatsApp,
                # Instagram, ...): the button says which one it opens.
                "kind": "messenger" if channel == "messenger" else f"live-{channel}",
                "href": live,
                "label": f"{where} · {name}" if name else where,
            }
        )
    if digits:
        found.append({"kind": "whatsapp", "href": f"https://wa.me/{digits}", "label": "WhatsApp"})
        found.append(
            {"kind": "viber", "href": f"viber://chat?number=%2B{digits}", "label": "Viber"}
        )
    return found
