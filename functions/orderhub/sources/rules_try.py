"""What a rules file reads from one mail, as data: ``scripts/email_rules_try`` prints it,
the CRM app's ``/services/try`` and builder show it. Pure code, no I/O.

The same steps as ``gmail_ingest``: does the sender and subject match, every field found
(converted: money, E.164 phone, order time), the line items, order by order, and every
problem that would quarantine the mail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orderhub import mime
from orderhub.sources import email


def shown(value: Any) -> str:
    """A found value as people read it (``9.73 EUR``, an ISO time, the text)."""
    if isinstance(value, dict) and "amount" in value:
        return f"{value['amount']} {value['currency']}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


@dataclass
class OrderRead:
    """One order of the mail: ``fields`` (name → shown value, or None when the rules
    name the field and it was not found), line items, problems."""

    block: int
    blocks: int
    fields: dict[str, str | None]
    line_items: list[tuple[int, str, str]]  # quantity, title, unit price
    problems: list[str]

    @property
    def complete(self) -> bool:
        return not self.problems


@dataclass
class MailRead:
    sender: str
    subject: str
    body: str  # text/html, text/plain or none
    sender_ok: bool
    subject_ok: bool
    orders: list[OrderRead] = field(default_factory=list)
    #: With ``layouts`` in the rules: the layout that read the mail ("" when none fits).
    layout: str | None = None

    @property
    def matches(self) -> bool:
        return self.sender_ok and self.subject_ok

    @property
    def complete(self) -> bool:
        return self.matches and bool(self.orders) and all(o.complete for o in self.orders)


def read(rules: email.Rules, mail: mime.Mail) -> MailRead:
    """What ``rules`` read from ``mail`` (the orders only when sender and subject match)."""
    result = MailRead(
        sender=mail.sender,
        subject=mail.subject,
        body="text/html" if mail.html else "text/plain" if mail.text else "none",
        sender_ok=bool(rules.sender.search(mail.sender)),
        subject_ok=bool(rules.subject.search(mail.subject)),
    )
    if not result.matches:
        return result
    extractions = email.extract_orders(rules, mail)
    if rules.layouts:
        result.layout = extractions[0].rules.layout if extractions else ""
    for extraction in extractions:
        fields: dict[str, str | None] = {}
        for name in email.SCALAR_FIELDS:
            if name in extraction.values:
                fields[name] = shown(extraction.values[name])
            elif name in extraction.rules.fields:  # the layout that read it
                fields[name] = None
        items = [
            (int(li["quantity"]), str(li["title"]), shown(li["unit_price"]))
            for li in extraction.line_items
        ]
        result.orders.append(
            OrderRead(extraction.block, extraction.blocks, fields, items, list(extraction.problems))
        )
    return result


def text_lines(mail: mime.Mail) -> list[str]:
    """The mail as the rules' regexes see it, one line each (``--text``); ValueError if
    the body cannot be read."""
    return email.document_text(mail).splitlines()
