"""Orders a manager types into the order form → canonical events. Pure code: no I/O, no clock.

``read_form`` turns the posted fields into a ``FormInput`` (what was typed, kept verbatim so
the page can come back with everything still there); ``validate`` checks it and returns a
``ManualOrder`` or a message per field; ``order_event`` builds the ``order.created`` event.

Idempotency lives in the form token, a random key issued with each rendering of the form:
the order id, the event id and the raw id all derive from it, so a double tap or a
resubmitted page names the same order and collapses downstream.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from orderhub import phones
from orderhub.event import Event, LineItem, Raw, iso, make_event, stable_id, version_of

SOURCE = "manual"

#: Where the customer came from: value → label. Stored as ``attribution.channel``.
CHANNELS: dict[str, str] = {
    "phone": "Phone call",
    "instagram": "Instagram",
    "messenger": "Messenger bot",
    "walk-in": "Walk-in",
    "other": "Other",
}
#: How the customer pays: value → label. Stored as the order's ``payment_type``; the owner
#: marks in /settings which ones are "paid in Shopify" (``Switches.paid_in_shopify``).
PAYMENT_TYPES: dict[str, str] = {
    "card": "Card",
    "bank_transfer": "Bank transfer",
    "cash_on_delivery": "Cash on delivery",
    "cash": "Cash",
    "payment_link": "Payment link",
}
#: The delivery method that needs no address.
PICKUP = "pickup"
MAX_LINES = 50
MAX_QUANTITY = 9999
MAX_PRICE = Decimal("10000000")
LINE_FIELDS = ("title", "sku", "variant_id", "product_id", "variant_title", "quantity", "price")
TEXT_FIELDS = (
    "customer_name",
    "phone",
    "email",
    "address",
    "delivery_method",
    "note",
    "channel",
    "chat_contact",
    "payment_type",
)
LIMITS = {"customer_name": 120, "email": 254, "address": 500, "note": 1000, "title": 200}
# Every pattern here runs in time linear in its input: no part of it can match the same
# text in two ways (no nested or adjacent quantifiers over overlapping characters), and
# inputs are length-checked first. The e-mail domain is dot-separated labels, each without
# a dot, so a hostile "a@b.b.b.b...!" cannot make the matcher try every split.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_LINE_KEY = re.compile(r"lines-(\d{1,3})-([a-z_]+)")
_PRICE = re.compile(r"\d{1,9}(?:\.\d{1,2})?")
_STAMP = re.compile(r"[0-9a-f]{8,10}")


@dataclass
class FormInput:
    """What the manager typed, as strings, exactly: the page is re-rendered from this."""

    fields: dict[str, str] = field(default_factory=dict)
    lines: list[dict[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


@dataclass(frozen=True)
class Line:
    title: str
    quantity: int
    unit_price: Decimal
    sku: str | None = None
    variant_id: str | None = None
    product_id: str | None = None
    variant_title: str | None = None

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class ManualOrder:
    lines: tuple[Line, ...]
    currency: str
    customer_name: str | None
    phone: str | None  # E.164
    email: str | None
    address: str | None
    delivery_method: str
    note: str | None
    channel: str
    #: The ManyChat contact the manager says brought the order (attribution evidence).
    chat_contact: str | None = None
    #: How the customer pays (a key of ``PAYMENT_TYPES``), if the manager said.
    payment_type: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal("0"))


def _clean(value: str | None) -> str:
    return (value or "").replace("\r\n", "\n").strip()


def read_form(values: Mapping[str, str]) -> FormInput:
    """Collect the order fields and the ``lines-<i>-<field>`` rows from a posted form.

    Rows keep their posted order; a row with nothing in it is dropped (the page always
    offers one empty row).
    """
    form = FormInput(fields={name: _clean(values.get(name)) for name in TEXT_FIELDS})
    rows: dict[int, dict[str, str]] = {}
    for key in values:
        match = _LINE_KEY.fullmatch(key) if len(key) <= 20 else None
        if match and match.group(2) in LINE_FIELDS and int(match.group(1)) < MAX_LINES * 2:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = _clean(values.get(key))
    for index in sorted(rows):
        row = {name: rows[index].get(name, "") for name in LINE_FIELDS}
        if row["title"] or row["sku"] or row["price"]:
            form.lines.append(row)
    return form


def parse_phone(raw: str, default_country: str) -> str:
    """The number in E.164 (read by ``orderhub.phones``), or ``ValueError`` with a message
    for the manager."""
    try:
        return phones.to_e164(raw, default_country)
    except phones.NotAPhone as exc:
        raise ValueError("Enter a phone number, e.g. " + example_phone(default_country)) from exc
    except phones.InvalidPhone as exc:
        raise ValueError(
            "This is not a valid phone number; add the country code if it is from abroad"
        ) from exc


def example_phone(country: str) -> str:
    return phones.example(country)


def parse_price(raw: str) -> Decimal:
    """A price as typed on a phone: ``12.50``, ``12,50`` or ``12``; ``ValueError`` if not."""
    text = raw.replace(" ", "").replace("\u00a0", "")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if len(text) > 12 or not _PRICE.fullmatch(text):
        raise ValueError("Enter a price like 12.50")
    price = Decimal(text)
    if price >= MAX_PRICE:
        raise ValueError("This price is too large")
    return price


def typed_total(rows: Sequence[dict[str, str]]) -> Decimal:
    """The sum of the rows whose quantity and price read well: the total shown while a
    form with mistakes comes back."""
    total = Decimal("0.00")
    for row in rows:
        try:
            total += parse_price(row.get("price", "")) * int(row.get("quantity") or "1")
        except ValueError:
            continue
    return total


def _line(row: dict[str, str], index: int, errors: dict[str, str]) -> Line | None:
    prefix = f"lines-{index}-"
    title = row["title"]
    if not title:
        errors[prefix + "title"] = "Name the item"
    elif len(title) > LIMITS["title"]:
        errors[prefix + "title"] = "This name is too long"
    try:
        quantity = int(row["quantity"] or "1")
        if not 1 <= quantity <= MAX_QUANTITY:
            raise ValueError
    except ValueError:
        errors[prefix + "quantity"] = f"A whole number from 1 to {MAX_QUANTITY}"
        quantity = 0
    try:
        price = parse_price(row["price"])
    except ValueError as exc:
        errors[prefix + "price"] = str(exc)
        price = Decimal("0")
    if any(key.startswith(prefix) for key in errors):
        return None
    return Line(
        title=title,
        quantity=quantity,
        unit_price=price,
        sku=row["sku"] or None,
        variant_id=row["variant_id"] or None,
        product_id=row["product_id"] or None,
        variant_title=row["variant_title"] or None,
    )


def validate(
    form: FormInput,
    *,
    link_mode: bool,
    default_country: str,
    currency: str,
    delivery_methods: Sequence[str],
) -> tuple[ManualOrder | None, dict[str, str]]:
    """The order, or ``None`` and a message per field name (``lines-<i>-<field>`` for rows).

    In link mode the customer fills in their own details at Shopify's checkout, so only
    the items are required; whatever customer details were typed are still checked.
    """
    errors: dict[str, str] = {}
    lines: list[Line] = []
    if not form.lines:
        errors["lines"] = "Add at least one item"
    elif len(form.lines) > MAX_LINES:
        errors["lines"] = f"At most {MAX_LINES} items in one order"
    else:
        for index, row in enumerate(form.lines):
            line = _line(row, index, errors)
            if line is not None:
                lines.append(line)

    for name, limit in LIMITS.items():
        if name in form.fields and len(form.get(name)) > limit:
            errors[name] = f"At most {limit} characters"

    name = form.get("customer_name")
    if not name and not link_mode:
        errors.setdefault("customer_name", "Enter the customer's name")

    phone: str | None = None
    if form.get("phone"):
        try:
            phone = parse_phone(form.get("phone"), default_country)
        except ValueError as exc:
            errors["phone"] = str(exc)
    elif not link_mode:
        errors["phone"] = "Enter the customer's phone number"

    email = form.get("email")
    if email and (len(email) > LIMITS["email"] or not _EMAIL.fullmatch(email)):
        errors.setdefault("email", "This is not an e-mail address")

    method = form.get("delivery_method")
    if method not in delivery_methods:
        errors["delivery_method"] = "Choose how the order is delivered"
    address = form.get("address")
    if not address and method != PICKUP and not link_mode:
        errors.setdefault("address", "Enter the delivery address (or choose pickup)")

    channel = form.get("channel")
    if channel not in CHANNELS:
        errors["channel"] = "Choose where the customer came from"

    chat_contact = None
    if form.get("chat_contact"):
        chat_contact = chat_contact_id(form.get("chat_contact"))
        if chat_contact is None:
            errors["chat_contact"] = "Paste the contact's ManyChat id or live-chat link"

    payment_type = form.get("payment_type") or None
    if payment_type and payment_type not in PAYMENT_TYPES:
        errors["payment_type"] = "Choose how the customer pays"

    if errors:
        return None, errors
    return (
        ManualOrder(
            lines=tuple(lines),
            currency=currency,
            customer_name=name or None,
            phone=phone,
            email=email.lower() or None,
            address=address or None,
            delivery_method=method,
            note=form.get("note") or None,
            channel=channel,
            chat_contact=chat_contact,
            payment_type=payment_type,
        ),
        {},
    )


def chat_contact_id(typed: str) -> str | None:
    """A ManyChat subscriber id from the id itself or a live-chat link (``.../chat/<id>``)."""
    text = typed.strip().rstrip("/")
    last = text.rsplit("/", 1)[-1] if "/chat/" in text else text
    return last if last.isdigit() and len(last) <= 30 else None


def new_form_token(now: datetime) -> str:
    """A token for one rendering of the form: its issue time (hex seconds) and 144 random
    bits. The time lets a very old page be refused before its claim could have expired."""
    return f"{int(now.timestamp()):x}_{secrets.token_urlsafe(18)}"


def token_age(token: str, now: datetime) -> timedelta | None:
    """How old a form token is, or ``None`` if it is not one of ours."""
    if len(token) > 64 or not _TOKEN.fullmatch(token):
        return None
    stamp, _, rest = token.partition("_")
    if not rest or not _STAMP.fullmatch(stamp):
        return None
    return now - datetime.fromtimestamp(int(stamp, 16), tz=UTC)


def valid_token(token: str, now: datetime, max_age: timedelta) -> bool:
    """Ours, and neither from the future nor older than ``max_age``."""
    age = token_age(token, now)
    return age is not None and timedelta(minutes=-5) <= age <= max_age


def order_id_for(shop: str, form_token: str) -> str:
    """A short, readable order number derived from the form token: ``M-`` + 10 base32
    characters (50 bits), so the same submission always names the same order."""
    digest = hashlib.sha256(f"{SOURCE}\x1f{shop}\x1f{form_token}".encode()).digest()
    return "M-" + base64.b32encode(digest[:10]).decode("ascii")[:10]


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(amount), "currency": currency}


def order_entity(
    order: ManualOrder, *, order_id: str, manager: str, at: datetime
) -> dict[str, Any]:
    currency = order.currency
    items: list[LineItem] = []
    for number, line in enumerate(order.lines, start=1):
        items.append(
            {
                "line_id": f"{order_id}-{number}",
                "product_id": line.product_id,
                "variant_id": line.variant_id,
                "sku": line.sku,
                "title": line.title,
                "variant_title": line.variant_title,
                "quantity": line.quantity,
                "unit_price": {"amount": str(line.unit_price), "currency": currency},
                "total_discount": {"amount": "0", "currency": currency},
            }
        )
    total = order.total
    zero = Decimal("0")
    return {
        "order_id": order_id,
        "name": order_id,
        "number": order_id,
        "created_at": iso(at),
        "updated_at": iso(at),
        "financial_status": "pending",
        "fulfillment_status": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "closed_at": None,
        "currency": currency,
        "presentment_currency": currency,
        "subtotal": _money(total, currency),
        "tax": _money(zero, currency),
        "discounts": _money(zero, currency),
        "shipping": _money(zero, currency),
        "total": _money(total, currency),
        "total_presentment": _money(total, currency),
        "customer": {
            "id": None,
            "name": order.customer_name,
            "email": order.email,
            "phone": order.phone,
        },
        "shipping_address": {
            "name": order.customer_name,
            "address1": order.address,
            "phone": order.phone,
        }
        if order.address
        else None,
        "line_items": items,
        "note": order.note,
        "tags": [f"delivery:{order.delivery_method}", f"channel:{order.channel}"],
        "attribution": {
            "channel": order.channel,
            "source_name": "order_form",
            "landing_site": None,
            "referring_site": None,
            **(
                {"contact_id": order.chat_contact, "contact_evidence": "manager"}
                if order.chat_contact
                else {}
            ),
        },
        "external_ref": None,
        "manager": manager,
        "delivery_method": order.delivery_method,
        "payment_type": order.payment_type,
    }


def order_event(
    order: ManualOrder,
    *,
    manager: str,
    form_token: str,
    shop: str,
    at: datetime,
    mail: Mapping[str, str] | None = None,
) -> Event:
    """The ``order.created`` event for a submitted form; ids derive from the form token.

    ``mail``: the quarantined e-mail the order was made from (``quarantine_event_id``,
    ``gmail_message_id``, ``service``, ``order_number``): kept as the order's
    ``external_ref`` (the marketplace's number, else the Gmail id), a ``from-mail:`` tag and
    the raw record's meta."""
    order_id = order_id_for(shop, form_token)
    entity = order_entity(order, order_id=order_id, manager=manager, at=at)
    if mail:
        entity["external_ref"] = mail.get("order_number") or mail.get("gmail_message_id")
        entity["tags"].append(f"from-mail:{mail.get('service') or 'e-mail'}")
    body = json.dumps(
        {"form": "order_form", "manager": manager, "order": entity},
        ensure_ascii=False,
        sort_keys=True,
    )
    raw: Raw = {
        "raw_id": stable_id(SOURCE, shop, "form", form_token),
        "kind": "order_form",
        "received_at": iso(at),
        "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "body": body,
        "meta": {"manager": manager, "encoding": "utf-8", **dict(mail or {})},
    }
    event = make_event(
        event_type="order.created",
        source=SOURCE,
        shop=shop,
        occurred_at=at,
        version=version_of(at),
        entity_id=order_id,
        entity=entity,
        raw=raw,
    )
    # The clock is in the version; the identity of the fact is the form token alone.
    event["event_id"] = stable_id(SOURCE, shop, "order.created", form_token)
    return event
