"""The owner's rules for a delivery service, without writing a regex. No Flask.

* ``mail_lines``: a sample mail as the rules see it, one ``Line`` per block or cell, each
  tagged with what its value looks like (money, phone, date, order number), so those are
  offered first;
* ``propose``: the owner tapped a line for a field → a spec: "the label, then the value"
  (on the same line, or the line before) as an RE2 regex;
* ``draft``: the rules text (YAML, the format of docs/email-rules.md) for the sample's
  sender and subject with the specs picked so far;
* ``stored_mails`` / ``read_all``: the mails the CRM keeps (``raw_events``) and what a
  rules text reads from each: the sample and the last ``RECENT`` from the same sender.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orderhub import mime
from orderhub.sources import email, rules_try

#: How many of the sender's recent mails a proposal is tried on.
RECENT = 20
#: The fields the builder offers, in the order it asks for them, with their value's kind.
FIELDS: dict[str, str] = {
    "order_number": "order_number",
    "total": "money",
    "customer_name": "text",
    "phone": "phone",
    "order_time": "date",
    "address": "text",
    "city": "text",
    "subtotal": "money",
    "delivery_fee": "money",
    "discount": "money",
    "note": "text",
}
LABELS = {
    "order_number": "Order number",
    "total": "Total",
    "customer_name": "Customer",
    "phone": "Phone",
    "order_time": "Order time",
    "address": "Address",
    "city": "City",
    "subtotal": "Subtotal",
    "delivery_fee": "Delivery fee",
    "discount": "Discount",
    "note": "Customer's note",
    "line_items": "An item's name (line items)",
}
_SIGNS = r"(?:€|EUR|\$|USD|£|GBP|грн|₴|UAH|zł|PLN|lei|RON|CHF)"
#: What a value of each kind looks like (Python ``re``, to find it in a line).
KIND_RE = {
    "money": re.compile(
        rf"(?:{_SIGNS}\s?-?\s?[0-9][0-9\s.,']*[0-9]|-?[0-9][0-9\s.,']*[.,][0-9]{{2}}\s?{_SIGNS}?)"
    ),
    "phone": re.compile(r"(?:\+|00)?[0-9][0-9 ()-]{7,}[0-9]"),
    "date": re.compile(
        r"[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{2,4}(?:,?\s[0-9]{1,2}:[0-9]{2})?"
        r"|[0-9]{1,2} [A-Za-z]+ [0-9]{4}"
    ),
    "order_number": re.compile(r"(?:#|№|No\.?)\s?[A-Za-z0-9][A-Za-z0-9-]*[0-9][A-Za-z0-9-]*"),
}
#: The capture group each kind's proposed regex takes.
_VALUE = {
    "money": "(.+)",
    "phone": "([+0-9][0-9 ()-]+[0-9])",
    "date": "(.+)",
    "order_number": "([A-Za-z0-9][A-Za-z0-9-]*)",
    "text": "(.+?)[!*.,:;]*",
}


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, as scripts/email_rules_try --text numbers them
    text: str
    kinds: tuple[str, ...]  # what the line's value looks like, first the likeliest


def kinds_of(text: str) -> tuple[str, ...]:
    found = [kind for kind, pattern in KIND_RE.items() if pattern.search(text)]
    if "order_number" in found or "date" in found or "phone" in found:
        found = [k for k in found if k != "money" or "," in text or "€" in text]
    return tuple(found)


def mail_lines(mail: mime.Mail) -> list[Line]:
    return [
        Line(n, text, kinds_of(text)) for n, text in enumerate(rules_try.text_lines(mail), start=1)
    ]


def suggested(lines: Sequence[Line], field: str) -> list[Line]:
    """The lines whose value looks like ``field``'s kind (money for the total ...)."""
    kind = FIELDS.get(field, "text")
    return [line for line in lines if kind in line.kinds]


def _escape(text: str) -> str:
    """A literal for RE2: Python's ``re.escape``, which RE2 reads the same."""
    return re.escape(text)


def propose(lines: Sequence[str], number: int, field: str) -> dict[str, str]:
    """A spec for ``field`` whose value is on line ``number`` (1-based): the label before
    the value on that line, else the line before it, then the value."""
    if field not in FIELDS or not 1 <= number <= len(lines):
        raise ValueError("pick a field and one line of the mail")
    kind = FIELDS[field]
    text = lines[number - 1]
    value = _VALUE[kind]
    pattern = KIND_RE.get(kind)
    found = pattern.search(text) if pattern else None
    if kind == "order_number" and found:
        sign = re.match(r"(?:#|№|No\.?)\s?", found.group(0))
        value = f"{_escape(sign.group(0).strip())}\\s*{value}" if sign else value
    label = (text[: found.start()] if found else "").rstrip()
    if kind == "text" and ":" in text:
        label = text.split(":", 1)[0] + ":"
    end = "" if kind == "order_number" else "$"
    if label.strip(" :*") and label != text:
        return {"regex": f"^{_escape(label)}\\s*{value}{end}"}
    previous = next((lines[i] for i in range(number - 2, -1, -1) if lines[i].strip()), None)
    if previous is not None and not kinds_of(previous):
        return {"regex": f"^{_escape(previous)}\\n{value}{end}"}
    return {"regex": f"^\\W?{value}$"}


def _subject_prefix(subject: str) -> str:
    head = re.split(r"[0-9#№]", subject, maxsplit=1)[0].strip()
    return f"^{_escape(head)}" if head else "."


def draft(
    *,
    service: str,
    mail: mime.Mail,
    picks: Mapping[str, Mapping[str, str]],
    currency: str,
    region: str,
    items: Mapping[str, str] | None = None,
    price: str = "unit",
    check_total: bool = False,
) -> str:
    """A rules text for the sample's sender and subject with the picked specs (and the
    line items' regex, its ``price_is`` and ``check_total``, when items are picked)."""
    import yaml

    domain = mail.sender.rpartition("@")[2].lower()
    total = picks.get("total")
    fields = {name: dict(spec) for name, spec in picks.items() if name in FIELDS}
    document: dict[str, Any] = {
        "service": service,
        "title": f"Orders from {mail.sender}",
        "match": {
            "from": f"^{_escape(mail.sender.lower())}$",
            "subject": _subject_prefix(mail.subject),
            "domains": [domain] if domain else [],
        },
        "defaults": {
            "currency": currency,
            "phone_region": region,
            "country_code": region,
            "financial_status": "paid",
            "order_name_prefix": f"{service.replace('_', ' ').replace('-', ' ').title()} #",
        },
        "fields": fields,
        # "3 x Pizza 9,50 €": a common item line; items are not required until checked.
        "line_items": (
            {"regex": items["regex"], "price_is": price}
            if items
            else {
                "regex": "^(?P<quantity>[0-9]+) ?[x×] (?P<name>.+?) "
                "(?P<price>[^ ]*[0-9][0-9.,]*[^ ]*)$"
            }
        ),
        "required": [
            "order_number",
            "total",
            *(n for n in fields if n not in ("order_number", "total")),
        ],
        "check_total": check_total,
    }
    if total is None:
        document["required"] = ["order_number", "total"]
    if items and check_total:
        document["required"].append("line_items")
    return str(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=1000))


def best_draft(*, mail: mime.Mail, items: Mapping[str, str] | None, **kwargs: Any) -> str:
    """``draft`` with the line items checked against the total when they are picked: the
    first of (unit prices, line totals) with which the sample reads completely with
    ``check_total``; else the items are kept but neither required nor checked."""
    from orderhub.errors import ConfigError
    from orderhub.sources import stored_rules

    if items:
        for price in ("unit", "line_total"):
            text = draft(mail=mail, items=items, price=price, check_total=True, **kwargs)
            try:
                if rules_try.read(stored_rules.parse_yaml(text), mail).complete:
                    return text
            except ConfigError:
                break
    return draft(mail=mail, items=items, **kwargs)


# ------------------------------------------------------------------ stored mails
RECENT_MAILS_SQL = """
SELECT raw_id, kind, source, shop, received_at, meta, body
FROM `{t}.raw_events`
WHERE received_at >= @since AND kind = 'gmail_message'
QUALIFY ROW_NUMBER() OVER (PARTITION BY raw_id ORDER BY received_at) = 1
ORDER BY received_at DESC
LIMIT @limit
"""


def raw_bytes(raw: Mapping[str, Any]) -> bytes:
    meta = raw.get("meta") or {}
    if isinstance(meta, str):
        meta = json.loads(meta or "{}")
    body = str(raw.get("body") or "")
    return base64.b64decode(body) if meta.get("encoding") == "base64" else body.encode("utf-8")


def stored_mails(run: Any, since: Any, limit: int = 200) -> list[tuple[dict[str, Any], mime.Mail]]:
    """The CRM's most recent stored mails (orders and quarantined), newest first."""
    rows = run(RECENT_MAILS_SQL, [("since", "TIMESTAMP", since), ("limit", "INT64", limit)])
    return [(row, mime.parse(raw_bytes(row))) for row in rows if row.get("body")]


def same_sender(
    mails: Sequence[tuple[dict[str, Any], mime.Mail]], sender: str, skip: str = ""
) -> list[tuple[dict[str, Any], mime.Mail]]:
    return [(r, m) for r, m in mails if m.sender == sender and r["raw_id"] != skip][:RECENT]


def read_all(
    rules: email.Rules, mails: Sequence[tuple[dict[str, Any], mime.Mail]]
) -> list[tuple[dict[str, Any], rules_try.MailRead]]:
    return [(row, rules_try.read(rules, mail)) for row, mail in mails]


# ------------------------------------------------------------------ line items
_QUANTITY_LINE = re.compile(r"^([0-9]{1,4}) ?([x×]|шт\.?|pcs\.?)?$")
_QUANTITY_HEAD = re.compile(r"^([0-9]{1,4}) ?([x×]) ")


def _shape(text: str) -> str:
    """What a line is, for finding repeated item blocks: quantity, money or text."""
    if _QUANTITY_LINE.match(text):
        return "q"
    if "money" in kinds_of(text):
        return "m"
    return "t"


def _line_pattern(text: str, role: str) -> str:
    if role == "q":
        found = _QUANTITY_LINE.match(text)
        unit = found.group(2) if found and found.group(2) else ""
        return f"(?P<quantity>[0-9]+){' ?' + _escape(unit) if unit else ''}"
    return "(?P<price>.+)" if role == "m" else "(?P<name>.+)"


def propose_items(lines: Sequence[str], number: int) -> dict[str, str] | None:
    """A ``line_items.regex`` from the item the owner tapped (its name's line): the
    block of lines around it (quantity, name, price: one line each, or all on one line)
    that repeats below it with the same shape. None when no such block is found."""
    if not 1 <= number <= len(lines):
        return None
    index = number - 1
    text = lines[index]
    money = KIND_RE["money"].search(text)
    head = _QUANTITY_HEAD.match(text)
    if money and money.start() > 0:  # "2x Sumo de laranja 2,40 €" on one line
        quantity = f"(?P<quantity>[0-9]+) ?{_escape(head.group(2))} " if head else ""
        return {"regex": f"^{quantity}(?P<name>.+?) (?P<price>{_MONEY_VALUE})$"}
    shapes = [_shape(line) for line in lines]
    best: tuple[int, int, int, int] | None = None  # (repeats, has quantity, size, -start)
    for size in (2, 3, 4):
        for start in range(max(0, index - size + 1), index + 1):
            block = shapes[start : start + size]
            if len(block) < size or block.count("m") != 1 or block[index - start] != "t":
                continue
            if block.count("t") != 1 or block.count("q") > 1:
                continue
            repeats, at = 1, start + size
            while shapes[at : at + size] == block:
                repeats, at = repeats + 1, at + size
            candidate = (repeats, int("q" in block), size, -start)
            if best is None or candidate > best:
                best = candidate
    if best is None:
        return None
    size, start = best[2], -best[3]
    parts = [_line_pattern(lines[start + k], shapes[start + k]) for k in range(size)]
    return {"regex": "^" + "\\n".join(parts) + "$"}


#: A money value at the end of an item line.
_MONEY_VALUE = r"(?:€|\$|£)? ?-?[0-9][0-9 .,]*(?: ?(?:€|EUR|грн|₴|UAH|zł|PLN|lei|RON|CHF))?"


def price_is(extracted_items: Sequence[tuple[int, str]], expected: str) -> str | None:
    """``unit`` or ``line_total``: which reading of the price column makes the items add
    up to ``expected`` (the subtotal), or None if neither does."""
    from decimal import Decimal, InvalidOperation

    try:
        want = Decimal(expected)
        as_unit = sum((Decimal(p) * q for q, p in extracted_items), Decimal(0))
        as_total = sum((Decimal(p) for _q, p in extracted_items), Decimal(0))
    except InvalidOperation:
        return None
    if as_total == want and as_unit != want:
        return "line_total"
    if as_unit == want:
        return "unit"
    return None
