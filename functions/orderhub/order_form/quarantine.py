"""Quarantined mail a person can act on (issue 22 item 6). Pure code: no Flask, no I/O.

* ``plain_reasons``: the rules' and the pipeline's reasons (``missing phone; total: no number
  where an amount should be``) in plain words for a manager; the technical text stays on
  the item's page, folded away.
* ``readout``: what today's rules can read of a stored mail (order number, customer, phone,
  address, total, items), the same reading ``gmail_ingest`` does, problems and all.
* ``prefill``: that reading as the order form's fields, for "Make an order from this mail".
* ``order_key``: the form key of the order made from one quarantined item, so saving it
  twice, from two phones, or after a reload is one order.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

#: A field of the rules, as a manager calls it.
FIELD_WORDS = {
    "order_number": "order number",
    "order_time": "order time",
    "customer_name": "customer's name",
    "phone": "phone number",
    "address": "address",
    "city": "city",
    "note": "customer's note",
    "currency": "currency",
    "subtotal": "subtotal",
    "delivery_fee": "delivery fee",
    "discount": "discount",
    "total": "total",
    "line_items": "items",
    "body": "mail's text",
}

_MISSING = re.compile(r"missing (?P<fields>[a-z_, ]+)")
_FIELD = re.compile(r"(?P<field>[a-z_]+): (?P<why>.+)", re.DOTALL)
_BLOCK = re.compile(r"order (?P<n>\d+) of (?P<m>\d+): (?P<rest>.+)", re.DOTALL)
_TOTAL = re.compile(r"total (?P<stated>\S+) is not items \+ fees - discount = (?P<sum>\S+)")
_SUBTOTAL = re.compile(r"subtotal (?P<stated>\S+) is not the items' sum (?P<sum>\S+)")
_LAYOUT = re.compile(r"the layout of (?P<service>\S+) changed \((?P<what>.+)\)", re.DOTALL)
_LOST = re.compile(r"field (?P<fields>[a-z_, ]+) no longer found")


def _words(name: str) -> str:
    return FIELD_WORDS.get(name, name.replace("_", " "))


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _plain_one(reason: str) -> str:
    """One reason (``; ``-separated in the quarantine) in words."""
    reason = reason.strip()
    block = _BLOCK.fullmatch(reason)
    if block:
        rest = _plain_one(block["rest"])
        return f"Order {block['n']} of {block['m']} in this mail: {rest[:1].lower()}{rest[1:]}"
    missing = _MISSING.fullmatch(reason)
    if missing:
        names = [_words(n.strip()) for n in missing["fields"].split(",") if n.strip()]
        return _sentence("Could not be found in the mail — missing " + ", ".join(names))
    layout = _LAYOUT.fullmatch(reason)
    if layout:
        lost = _LOST.fullmatch(layout["what"])
        what = (
            ", ".join(_words(n.strip()) for n in lost["fields"].split(",") if n.strip())
            + " no longer found"
            if lost
            else "no layout of the rules fits"
        )
        return _sentence(
            f"{layout['service'].capitalize()} seems to have changed the layout of its mails "
            f"({what}): the owner can update the rules under Delivery services"
        )
    total = _TOTAL.fullmatch(reason)
    if total:
        return _sentence(
            f"The total {total['stated']} does not add up: items + delivery − discount "
            f"make {total['sum']}"
        )
    subtotal = _SUBTOTAL.fullmatch(reason)
    if subtotal:
        return _sentence(
            f"The subtotal {subtotal['stated']} is not the sum of the items ({subtotal['sum']})"
        )
    found = _FIELD.fullmatch(reason)
    if found and found["field"] == "sender":
        why = found["why"]
        if why.startswith("Gmail did not authenticate"):
            return (
                "Gmail could not confirm that the marketplace sent this mail: it may be forged. "
                "Check the order with the marketplace before making it."
            )
        return _sentence("It was not sent from the marketplace's own address (" + why + ")")
    if found and found["field"] == "order_number" and "several orders" in found["why"]:
        numbers = re.search(r"\(([^)]*)\)", found["why"])
        shown = f" ({numbers.group(1)})" if numbers else ""
        return _sentence(f"This mail holds several orders{shown}; make each one by hand")
    if found and found["field"] == "currency":
        if found["why"].startswith("none"):
            return "No currency in the mail, and the rules set none."
        shown = found["why"].removeprefix("amounts in ").removesuffix(" in one order")
        return _sentence(f"The mail gives amounts in several currencies ({shown})")
    if found and found["field"] in FIELD_WORDS:
        return _sentence(f"The {_words(found['field'])} in the mail could not be read")
    if "too large" in reason or ("over" in reason and "MB" in reason):
        return _sentence("The mail is too large to read here; open it in Gmail")
    return _sentence("Could not be read automatically (see the technical details)")


def plain_reasons(reason: str | None) -> list[str]:
    """Every reason of a quarantined item in words, in the order given, each once."""
    parts = [p for p in re.split(r";\s+", str(reason or "")) if p.strip()]
    return list(dict.fromkeys(_plain_one(p) for p in parts)) or ["No reason was recorded."]


@dataclass
class Readout:
    """What the rules could read of one quarantined mail (its first order)."""

    service: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    line_items: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    orders: int = 0  # how many orders the mail carries

    @property
    def order_number(self) -> str:
        return str(self.values.get("order_number") or "")

    @property
    def customer(self) -> str:
        return str(self.values.get("customer_name") or "")

    @property
    def total(self) -> dict[str, str] | None:
        total = self.values.get("total")
        return total if isinstance(total, dict) else None


def _mail_bytes(raw: dict[str, Any]) -> bytes:
    meta = raw.get("meta") or {}
    if isinstance(meta, str):
        meta = json.loads(meta or "{}")
    body = str(raw.get("body") or "")
    return base64.b64decode(body) if meta.get("encoding") == "base64" else body.encode("utf-8")


def readout(raw: dict[str, Any] | None, rules: Any) -> Readout | None:
    """Today's rules over a stored e-mail; ``None`` for what is no mail or no rule knows."""
    from orderhub import mime
    from orderhub.sources import email

    if not raw or raw.get("kind") != "gmail_message" or not raw.get("body"):
        return None
    try:
        mail = mime.parse(_mail_bytes(raw))
        found = email.match(rules, mail)
        if found is None:
            return None
        extractions = email.extract_orders(found, mail)
    except Exception:  # noqa: BLE001 - a mail nothing can read shows its reasons only
        return None
    first = next((x for x in extractions if not x.complete), extractions[0])
    values = {k: v for k, v in first.values.items() if k != "order_time"}
    return Readout(
        service=found.service,
        values=values,
        line_items=[dict(li) for li in first.line_items],
        problems=list(first.problems),
        orders=len(extractions),
    )


def _price(money: Any) -> str:
    try:
        return str(Decimal(str((money or {}).get("amount"))).quantize(Decimal("0.01")))
    except (InvalidOperation, TypeError, ValueError, AttributeError):
        return ""


def prefill(found: Readout | None) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The order form's fields and item rows from what was read; the rest is left empty
    for the manager, who has the mail beside the form."""
    if found is None:
        return {"channel": "other", "delivery_method": ""}, []
    values = found.values
    address = ", ".join(str(values[k]) for k in ("address", "city") if values.get(k))
    note_parts = []
    if found.order_number:
        note_parts.append(f"{found.service.title()} order {found.order_number}")
    if values.get("note"):
        note_parts.append(str(values["note"]))
    fields = {
        "customer_name": str(values.get("customer_name") or ""),
        "phone": str(values.get("phone") or ""),
        "address": address,
        "note": " · ".join(note_parts),
        "channel": "other",
        "delivery_method": "",
    }
    lines = [
        {
            "title": str(li.get("title") or ""),
            "quantity": str(li.get("quantity") or 1),
            "price": _price(li.get("unit_price")),
        }
        for li in found.line_items
        if li.get("title")
    ]
    return {k: v[:500] for k, v in fields.items()}, lines


def order_key(event_id: str) -> str:
    """The form key of the order made from quarantine item ``event_id``: one per item."""
    return "mail_" + hashlib.sha256(f"quarantine\x1f{event_id}".encode()).hexdigest()[:40]
