"""Reading an e-mail's raw RFC 822 bytes: headers, and the one body worth parsing.

Gmail gives the message as base64url (``format=raw``); the bytes inside are ordinary MIME,
so the standard library's ``email`` package does the decoding: quoted-printable and
base64 transfer encodings, RFC 2047 encoded headers and any charset Python knows
(windows-1251, koi8-u, iso-8859-1, ...). Pure code, no I/O.

HTML is preferred over plain text because marketplaces put the order in tables, which a
CSS selector reads reliably; plain text is the fallback for text-only mail.
"""

from __future__ import annotations

import base64
import email
import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import parseaddr, parsedate_to_datetime


@dataclass(frozen=True)
class Mail:
    """What the rules need from one message."""

    sender: str  # the bare address, lower-case
    subject: str
    date: datetime | None
    html: str | None
    text: str | None


def b64url_decode(data: str) -> bytes:
    """Gmail's base64url, with or without its ``=`` padding."""
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know: keep what reads
        return payload.decode("utf-8", errors="replace")


def parse(raw: bytes) -> Mail:
    """Headers and the bodies of a raw message (either body may be None)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # the default policy's message class
    html: str | None = None
    text: str | None = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/html" and html is None:
            html = _part_text(part)
        elif kind == "text/plain" and text is None:
            text = _part_text(part)
    date: datetime | None = None
    if message["Date"]:
        try:
            date = parsedate_to_datetime(str(message["Date"]))
        except (TypeError, ValueError):
            date = None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    return Mail(
        sender=parseaddr(str(message["From"] or ""))[1].lower(),
        subject=str(message["Subject"] or "").strip(),
        date=date,
        html=html,
        text=text,
    )
