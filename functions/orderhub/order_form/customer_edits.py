"""A customer edited in the CRM app, sent again, or deleted. No Flask here.

Each is one canonical event from source ``manual`` with the manager who did it
(``manager``, ``manager_name``):

* ``customer.upserted``: the customer's whole record as the manager saved it (name,
  phone in E.164, e-mail, address, tags, note) with the order count and total spend
  across every source, counted when it was saved. crm_writer stores it like Shopify's
  versions (``customer_events``), so the ``customers`` view and the customer page show it
  at once; ``shopify_sync`` writes it with ``customerSet`` (tags and totals included).
  "Send to Shopify now" publishes the same record again with the current totals: the sync
  is idempotent, so a second press finds Shopify holding all of it and sends nothing.
* ``customer.deleted``: the customer leaves the ``customers`` view and the sync link
  goes; Shopify's customer is kept.

The CRM's id of such a customer is ``M-`` and a digest of the shop and the page's key
(phone digits, else e-mail), so every edit of one customer is a version of one record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from orderhub.event import Event, make_event, stable_id, version_of
from orderhub.sources import manual

SOURCE = "manual"
LIMITS = {
    "name": 200,
    "email": 254,
    "phone": 40,
    "tags": 1000,
    "note": 5000,
    "address1": 200,
    "address2": 200,
    "city": 100,
    "zip": 20,
    "country_code": 2,
}
FIELDS = tuple(LIMITS)
ADDRESS_FIELDS = ("address1", "address2", "city", "zip", "country_code")
#: What an address needs, in the manager's words (Shopify refuses one without them).
ADDRESS_NEEDS = {"address1": "Street", "city": "City", "country_code": "Country"}
_COUNTRY = re.compile(r"[A-Z]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")  # as the order form (linear)
MAX_TAGS = 50


@dataclass
class Edit:
    """What the manager typed, as strings (the form is shown again from it), the errors
    per field, and the clean record once it is valid."""

    fields: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


def form_of(page: Any) -> dict[str, str]:
    """The edit form filled from the customer page (``queries.CustomerPage``)."""
    address = page.address or {}
    values = {
        "name": page.name,
        "email": page.email,
        "phone": page.phone,
        "tags": ", ".join(page.tags),
        "note": page.note,
        **{k: address.get(k) for k in ADDRESS_FIELDS},
    }
    return {k: str(v or "") for k, v in values.items()}


def read(values: Mapping[str, str], *, default_country: str) -> Edit:
    """Check the posted form; ``Edit.errors`` says what is wrong, per field."""
    typed = {k: str(values.get(k) or "").replace("\r\n", "\n").strip() for k in FIELDS}
    edit = Edit(typed)
    for name, limit in LIMITS.items():
        if len(typed[name]) > limit:
            edit.errors[name] = f"At most {limit} characters"
    if not typed["name"]:
        edit.errors.setdefault("name", "Enter the customer's name")
    phone = None
    if typed["phone"]:
        try:
            phone = manual.parse_phone(typed["phone"], default_country)
        except ValueError as exc:
            edit.errors.setdefault("phone", str(exc))
    email = typed["email"].lower() or None
    if email and not _EMAIL.fullmatch(email):
        edit.errors.setdefault("email", "This is not an e-mail address")
    if not phone and not email and "phone" not in edit.errors:
        edit.errors["phone"] = "A phone or an e-mail is needed: Shopify finds customers by them"
    tags = [" ".join(t.split()) for t in typed["tags"].split(",")]
    tags = [t for t in tags if t]
    if len(tags) > MAX_TAGS:
        edit.errors.setdefault("tags", f"At most {MAX_TAGS} tags")
    if any(len(t) > 255 for t in tags):
        edit.errors.setdefault("tags", "A tag has at most 255 characters")
    country = typed["country_code"].upper()
    if country and not _COUNTRY.fullmatch(country):
        edit.errors.setdefault("country_code", "Two letters, e.g. PT, UA, US")
    address = {k: typed[k] for k in ADDRESS_FIELDS if typed[k]}
    if address:
        address["country_code"] = country
        for name, label in ADDRESS_NEEDS.items():
            if not typed[name]:
                edit.errors.setdefault(name, f"{label} is needed for an address Shopify takes")
    if not edit.errors:
        edit.record = {
            "name": typed["name"],
            "email": email,
            "phone": phone,
            "tags": list(dict.fromkeys(tags)),
            "note": typed["note"],
            "default_address": address or None,
        }
    return edit


def customer_id(shop: str, page: Any) -> str:
    """The CRM's id of a customer kept in the app: the id of their record made here
    before (so a changed phone stays one record), else one per shop and page key."""
    for row in page.records:
        if row.get("source") == SOURCE and row.get("shop") == shop and row.get("customer_id"):
            return str(row["customer_id"])
    return "M-" + stable_id(SOURCE, shop, "customer", page.key)[:20]


def key_of(record: Mapping[str, Any]) -> str:
    """The customer page's key of a saved record (phone digits, else e-mail)."""
    digits = re.sub(r"\D", "", str(record.get("phone") or ""))
    return "p" + digits if digits else "e:" + str(record.get("email") or "")


def _plain(value: Any) -> Any:
    """A stored consent record (times as datetimes) in JSON's terms."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value.isoformat() if isinstance(value, datetime) else value


def totals(page: Any) -> tuple[int, list[dict[str, str]]]:
    """The order count and the spend per currency across every source (cancelled and
    refunded orders left out, as the customer page counts them)."""
    counted = [o for o in page.orders if o.get("status") not in ("cancelled", "refunded")]
    spent = [
        {"amount": str(Decimal(amount).quantize(Decimal("0.01"))), "currency": currency}
        for currency, amount in sorted(page.totals.items())
        if currency
    ]
    return len(counted), spent


def record_of(page: Any) -> dict[str, Any]:
    """The customer as the CRM holds them now (for "Send to Shopify now")."""
    return {
        "name": page.name,
        "email": (page.email or "").lower() or None,
        "phone": page.phone or None,
        "tags": list(page.tags),
        "note": page.note,
        "default_address": page.address or None,
    }


def upserted(
    record: Mapping[str, Any],
    *,
    page: Any,
    shop: str,
    manager: str,
    manager_name: str,
    at: datetime,
) -> Event:
    """The ``customer.upserted`` of the record, with the totals counted now; a new version
    each time (its time in ms), so the newest edit is what the views show."""
    count, spent = totals(page)
    other_shops = {
        str(r.get("shop")) for r in page.records if r.get("source") == "shopify" and r.get("shop")
    }
    entity: dict[str, Any] = {
        "customer_id": customer_id(shop, page),
        **record,
        "orders_count": count,
        "total_spent": spent,
        "manager": manager,
        "manager_name": manager_name,
        "email_marketing_consent": _plain(page.consent_records.get("email")),
        "sms_marketing_consent": _plain(page.consent_records.get("sms")),
        "updated_at": at.isoformat(),
    }
    if other_shops and shop not in other_shops:  # only another shop's record: not ours
        entity["shopify_shop"] = sorted(other_shops)[0]
    return make_event(
        event_type="customer.upserted",
        source=SOURCE,
        shop=shop,
        occurred_at=at,
        version=version_of(at),
        entity_id=entity["customer_id"],
        entity=entity,
    )


def deleted(
    *,
    page: Any,
    shop: str,
    manager: str,
    manager_name: str,
    at: datetime,
    in_shopify: bool = False,
) -> Event:
    """The ``customer.deleted`` of the CRM's record: the views drop it, the link goes."""
    entity = {
        "customer_id": customer_id(shop, page),
        "name": page.name,
        "email": (page.email or "").lower() or None,
        "phone": page.phone or None,
        "deleted": True,
        "delete_in_shopify": in_shopify,
        "manager": manager,
        "manager_name": manager_name,
    }
    return make_event(
        event_type="customer.deleted",
        source=SOURCE,
        shop=shop,
        occurred_at=at,
        version=version_of(at),
        entity_id=entity["customer_id"],
        entity=entity,
    )
