"""ManyChat contacts → ``contact.touched`` events. Pure code: no I/O, no clock.

The bot posts a contact in one of two shapes, both accepted:

* **Full Contact Data** (``{{subscriber_data|to_json:true}}`` in an External Request or a
  Dynamic Block body): ``custom_fields`` is a *map* of field name → value;
* the **API's subscriber** (``/fb/subscriber/getInfo``, bare or in its ``{"status":
  "success", "data": {...}}`` answer): ``custom_fields`` is a *list* of ``{id, name, type,
  value}`` and ``tags`` a list of ``{id, name}``.

Where the contact came from is read from custom fields that the bot's entry points set
(``SOURCE_FIELDS``: e.g. ``source``, ``campaign``, ``ad_id``, ``ref``), falling back to
ManyChat's ``last_growth_tool``. The phone is stored in E.164 when ``orderhub.phones`` can
read it (the bot's default country for numbers typed without ``+``); otherwise it is kept
exactly as typed with ``phone_valid`` false and the ``phone_invalid`` flag: the contact is
never lost for a typo.

Chat identity is weak evidence: anyone can type a stranger's phone or e-mail into the bot.
Only ManyChat's own ``phone``/``email`` fields with their opt-in (``optin_phone``,
``optin_email``: ManyChat collected them through its own opt-in flow) are
``phone_verified``/``email_verified``; only those link the contact to a shop customer and
attribute that customer's orders to the chat (views ``contacts``, ``orders``). A phone or
e-mail from a custom field is kept and shown as unconfirmed.

Channels: ManyChat runs Messenger, WhatsApp, Instagram and TikTok (and Telegram) bots on
one account; a contact keeps its channel (``channel``) and that channel's identifiers
(``whatsapp_phone`` in E.164, ``whatsapp_bsuid``, ``ig_id``, ``ig_username``,
``tt_user_id``, ``tt_username``). A WhatsApp contact's number is the account WhatsApp
itself verified: with no ManyChat ``phone``, it is the contact's phone and counts as
verified for linking (``phone_verified``).

Identity: the contact is ManyChat's subscriber id; one *touch* is one
``last_interaction`` of that subscriber, so the same post sent twice is one event (same
``event_id``), and a later conversation is a new touch of the same contact. A body
without ``last_interaction`` (WhatsApp's has none) is timed by the next best:
``ig_last_interaction``, ``last_seen``, ``ig_last_seen``, ``subscribed``, and only then the
moment we heard of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orderhub import phones
from orderhub.errors import PoisonMessage
from orderhub.event import Event, Raw, iso, make_event, parse_time, stable_id, version_of

SOURCE = "manychat"

#: Canonical attribution field → custom-field names that may hold it (case-insensitive).
SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "touch_source": ("source", "utm_source", "traffic_source", "orderhub_source"),
    "campaign": ("campaign", "utm_campaign", "orderhub_campaign"),
    "ad": ("ad", "ad_id", "utm_content", "orderhub_ad"),
    "ref": ("ref", "referral", "orderhub_ref"),
}
#: Custom fields that may hold the phone or e-mail when the system fields are empty.
PHONE_FIELDS = ("phone", "phone_number", "telephone")
EMAIL_FIELDS = ("email", "e-mail", "email_address")

MAX_BODY_BYTES = 64 * 1024

#: The channels a ManyChat contact can come from, and the fields that identify it there.
CHANNEL_IDS: dict[str, tuple[str, ...]] = {
    "whatsapp": ("whatsapp_phone", "whatsapp_bsuid"),
    "instagram": ("ig_id", "ig_username"),
    "tiktok": ("tt_user_id", "tt_username"),
    "telegram": ("tg_id", "tg_username"),
}
#: A contact with none of those identifiers is a Messenger contact (ManyChat's first).
DEFAULT_CHANNEL = "messenger"
#: Each channel's own "last interaction" field, when ManyChat has one for it.
CHANNEL_INTERACTION = {"messenger": "last_interaction", "instagram": "ig_last_interaction"}
#: When a touch happened, best first (``last_interaction`` is absent on WhatsApp).
TOUCH_TIMES = ("last_interaction", "ig_last_interaction", "last_seen", "ig_last_seen", "subscribed")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _id(value: Any) -> str | None:
    """A ManyChat id (an integer beyond 2^53, or its string) as a digit string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    text = _text(value)
    if text and text.startswith("user:"):  # the ``key`` form
        text = text[5:]
    return text if text and text.isdigit() else None


def unwrap(payload: Any) -> dict[str, Any]:
    """The subscriber object out of any accepted envelope; ``PoisonMessage`` if none."""
    if not isinstance(payload, dict):
        raise PoisonMessage("body is not a JSON object")
    if isinstance(payload.get("data"), dict) and "id" not in payload:  # the API's answer
        if payload.get("status") not in (None, "success"):
            raise PoisonMessage("body is a ManyChat error answer, not a contact")
        payload = payload["data"]
    elif isinstance(payload.get("subscriber"), dict) and "id" not in payload:
        payload = payload["subscriber"]
    subscriber: dict[str, Any] = payload
    return subscriber


def custom_fields(value: Any) -> dict[str, Any]:
    """Both shapes as one name → value map (names as ManyChat spells them)."""
    if value is None:
        return {}
    if isinstance(value, dict):  # Full Contact Data
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):  # the API: [{id, name, type, value}]
        fields: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, dict) or not _text(item.get("name")):
                raise PoisonMessage("custom_fields list items must be {id, name, type, value}")
            fields[str(item["name"])] = item.get("value")
        return fields
    raise PoisonMessage("custom_fields is neither a map nor a list of fields")


def tags(value: Any) -> list[str]:
    """Tag names from ``[{id, name}]``, plain strings, or one comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return sorted({t.strip() for t in value.split(",") if t.strip()})
    if not isinstance(value, list):
        raise PoisonMessage("tags is neither a list nor a string")
    names = set()
    for item in value:
        name = _text(item.get("name")) if isinstance(item, dict) else _text(item)
        if name:
            names.add(name)
    return sorted(names)


def _field(fields: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    lowered = {k.strip().lower(): v for k, v in fields.items()}
    for name in names:
        found = _text(lowered.get(name))
        if found:
            return found
    return None


def phone_e164(raw: str | None, default_country: str) -> tuple[str | None, bool]:
    """(E.164, True) when the number reads as valid (``orderhub.phones``); else (as typed,
    False)."""
    return phones.e164_or_typed(raw, default_country)


def _growth_tool(value: Any) -> str | None:
    if isinstance(value, dict):  # some exports give {id, name, type}
        return _text(value.get("name")) or _text(value.get("type"))
    return _text(value)


def _time(value: Any) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def channel_of(subscriber: Mapping[str, Any]) -> str:
    """The channel of the contact: the one it has identifiers for; of several (ManyChat
    merges one person's channels; Messenger counts when ``last_interaction`` is set), the
    one with the newest interaction of its own, else the first in ``CHANNEL_IDS``; none:
    Messenger."""
    present = [
        name
        for name, keys in CHANNEL_IDS.items()
        if any(_text(subscriber.get(key)) for key in keys)
    ]
    if present and _time(subscriber.get(CHANNEL_INTERACTION[DEFAULT_CHANNEL])) is not None:
        present.append(DEFAULT_CHANNEL)  # merged with a Messenger conversation
    if len(present) <= 1:
        return present[0] if present else DEFAULT_CHANNEL
    timed = [
        (moment, name)
        for name in present
        if name in CHANNEL_INTERACTION
        and (moment := _time(subscriber.get(CHANNEL_INTERACTION[name]))) is not None
    ]
    return max(timed)[1] if timed else present[0]


def whatsapp_e164(value: Any) -> str | None:
    """A WhatsApp number in E.164: WhatsApp ids are international numbers, with or
    without their ``+``; None if it does not read as a valid number."""
    text = _text(value)
    if not text:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    found, valid = phones.e164_or_typed(f"+{digits}" if digits else text, None)
    return found if valid else None


def touch_time(subscriber: Mapping[str, Any]) -> datetime | None:
    """When this touch happened: the first of ``TOUCH_TIMES`` the body carries."""
    for key in TOUCH_TIMES:
        moment = _time(subscriber.get(key))
        if moment is not None:
            return moment
    return None


def contact_entity(subscriber: Mapping[str, Any], default_country: str) -> dict[str, Any]:
    """The canonical contact from a subscriber in either shape."""
    contact_id = _id(subscriber.get("id"))
    if contact_id is None:
        raise PoisonMessage("no subscriber id (the body must carry the contact's numeric id)")
    fields = custom_fields(subscriber.get("custom_fields"))
    own_phone, own_email = _text(subscriber.get("phone")), _text(subscriber.get("email"))
    whatsapp = whatsapp_e164(subscriber.get("whatsapp_phone"))
    raw_phone = own_phone or whatsapp or _field(fields, PHONE_FIELDS)
    phone, phone_valid = phone_e164(raw_phone, default_country)
    email = own_email or _field(fields, EMAIL_FIELDS)
    email = email.lower() if email and "@" in email else email
    # ManyChat's own fields with their opt-in, never a custom field the user typed into;
    # or the WhatsApp account's own number (WhatsApp verified it when it was registered).
    phone_verified = bool(
        (own_phone and phone_valid and subscriber.get("optin_phone") is True)
        or (not own_phone and whatsapp and phone == whatsapp)
    )
    email_verified = bool(own_email and "@" in own_email and subscriber.get("optin_email") is True)
    first, last = _text(subscriber.get("first_name")), _text(subscriber.get("last_name"))
    name = _text(subscriber.get("name")) or " ".join(p for p in (first, last) if p) or None
    growth_tool = _growth_tool(subscriber.get("last_growth_tool"))
    origin = {key: _field(fields, names) for key, names in SOURCE_FIELDS.items()}
    subscribed = _time(subscriber.get("subscribed"))
    interaction = _time(subscriber.get("last_interaction"))
    touched = touch_time(subscriber)
    flags = []
    if raw_phone and not phone_valid:
        flags.append("phone_invalid")
    if email and "@" not in email:
        flags.append("email_invalid")
    return {
        "contact_id": contact_id,
        "page_id": _id(subscriber.get("page_id")),
        "name": name,
        "first_name": first,
        "last_name": last,
        "phone": phone,
        "phone_valid": phone_valid,
        "phone_verified": phone_verified,
        "email": email,
        "email_verified": email_verified,
        "locale": _text(subscriber.get("locale")),
        "language": _text(subscriber.get("language")),
        "timezone": _text(subscriber.get("timezone")),
        "gender": _text(subscriber.get("gender")),
        "channel": channel_of(subscriber),
        "whatsapp_phone": whatsapp,
        "whatsapp_bsuid": _text(subscriber.get("whatsapp_bsuid")),
        "ig_id": _text(subscriber.get("ig_id")),
        "ig_username": _text(subscriber.get("ig_username")),
        "tt_user_id": _text(subscriber.get("tt_user_id")),
        "tt_username": _text(subscriber.get("tt_username")),
        "live_chat_url": _text(subscriber.get("live_chat_url")),
        "tags": tags(subscriber.get("tags")),
        "touch_source": origin["touch_source"] or growth_tool,
        "campaign": origin["campaign"],
        "ad": origin["ad"],
        "ref": origin["ref"],
        "growth_tool": growth_tool,
        "subscribed_at": iso(subscribed) if subscribed else None,
        "last_interaction_at": iso(interaction) if interaction else None,
        "touched_at": iso(touched) if touched else None,
        "custom_fields": fields,
        "flags": flags,
    }


def raw_record(body: bytes, *, shop: str, route: str, received_at: datetime) -> Raw:
    """The verbatim post, for ``raw_events`` (and ``quarantine`` when unreadable)."""
    digest = hashlib.sha256(body).hexdigest()
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        import base64

        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    return {
        # The same bytes posted twice are one raw record.
        "raw_id": stable_id(SOURCE, shop, route, digest),
        "kind": "manychat_request",
        "received_at": iso(received_at),
        "sha256": digest,
        "body": text,
        "meta": {"route": route, "encoding": encoding},
    }


def normalise(
    body: bytes, *, shop: str, raw: Raw, received_at: datetime, default_country: str
) -> Event:
    """One posted contact → its ``contact.touched`` event; ``PoisonMessage`` if unreadable."""
    if len(body) > MAX_BODY_BYTES:
        raise PoisonMessage(f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"body is not JSON ({exc.__class__.__name__})") from exc
    entity = contact_entity(unwrap(payload), default_country)
    # The touch is the subscriber's last interaction; without one, the next best time the
    # body carries (``TOUCH_TIMES``), and only then the moment we heard.
    moment = _time(entity["touched_at"]) or received_at
    content = hashlib.sha256(
        json.dumps(entity, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    return make_event(
        event_type="contact.touched",
        source=SOURCE,
        shop=shop,
        occurred_at=moment,
        version=version_of(moment),
        entity_id=entity["contact_id"],
        entity=entity,
        raw=raw,
        # Same contact, same interaction, same data: the same event, however often posted.
        id_parts=(content,),
    )
