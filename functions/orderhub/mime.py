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
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime


@dataclass(frozen=True)
class Mail:
    """What the rules need from one message."""

    sender: str  # the bare address, lower-case ("" unless From names exactly one address)
    subject: str
    date: datetime | None
    html: str | None
    text: str | None
    #: Domains that Gmail's own Authentication-Results vouch for (DKIM or DMARC pass).
    authenticated: frozenset[str] = frozenset()


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


def _header(message: Message, name: str) -> str:
    """A header's text, RFC 2047 encoded words decoded (``=?windows-1251?b?...?=``)."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeDecodeError, ValueError):  # an unknown or lying charset
        return str(value)


#: The receiving server whose verdicts we trust: Gmail's own.
TRUSTED_AUTHSERV = "mx.google.com"
_PASS = re.compile(
    r"\b(?:dkim=pass\b[^;]*?header\.(?:d=|i=@?)|dmarc=pass\b[^;]*?header\.from=)([A-Za-z0-9.-]+)"
)


def _sender(message: Message) -> str:
    """The one address in From, read before decoding (an encoded word cannot hide
    another address); "" when From names none or several."""
    addresses = [a for _, a in getaddresses([str(message.get("From") or "")]) if a]
    return addresses[0].lower() if len(addresses) == 1 else ""


def _authenticated(message: Message) -> frozenset[str]:
    """Domains with a DKIM or DMARC pass in the *topmost* Authentication-Results header.

    Gmail adds its header above everything the sender wrote; a header a sender forged sits
    below it and is ignored. Anything but Gmail's own verdict vouches for nothing.
    """
    headers = message.get_all("Authentication-Results") or []
    if not headers:
        return frozenset()
    top = " ".join(str(headers[0]).split())
    if top.split(";", 1)[0].strip().lower() != TRUSTED_AUTHSERV:
        return frozenset()
    return frozenset(domain.lower().rstrip(".") for domain in _PASS.findall(top))


def parse(raw: bytes) -> Mail:
    """Headers and the bodies of a raw message (either body may be None).

    The ``compat32`` policy is used with explicit header decoding: the modern policy's
    header objects cost about a third of the whole parse, for nothing we need.
    """
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
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
        sender=_sender(message),
        subject=" ".join(_header(message, "Subject").split()),
        date=date,
        html=html,
        text=text,
        authenticated=_authenticated(message),
    )
