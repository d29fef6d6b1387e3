"""A Gmail message → order events, through the delivery services' rules. Pure code, no I/O.

``gmail_ingest`` reads the messages (``format=metadata`` first, then ``format=raw``) and
hands them here; the CRM app's "read again" replays a stored mail through the same path.

* ``prematch``: from a message's From and Subject only, the rules that may know it;
* ``message_events``: a fetched message → its (outcome, event, reason) triples: one
  ``order.created`` per order the mail carries, or a ``payload.quarantined`` with reasons
  (its entity's ``layout_changed`` says when the service's layout changed);
* ``reference_event``: a quarantine event for a mail kept by reference (too large to fetch).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.utils import getaddresses
from typing import Any

from orderhub import mime
from orderhub.event import Event, Raw, iso, quarantine_event, stable_id
from orderhub.sources import email

RAW_KIND = "gmail_message"


def raw_record(
    mailbox: str, message: dict[str, Any], body: bytes, service: str, at: datetime
) -> Raw:
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    return {
        "raw_id": stable_id("gmail", mailbox, message["id"]),
        "kind": RAW_KIND,
        "received_at": iso(at),
        "sha256": hashlib.sha256(body).hexdigest(),
        "body": text,
        "meta": {
            "gmail_message_id": str(message["id"]),
            "gmail_thread_id": str(message.get("threadId") or ""),
            "service": service,
            "encoding": encoding,
            "format": "message/rfc822",
        },
    }


def received_at(message: dict[str, Any], fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(message["internalDate"]) / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError):
        return fallback


def message_events(
    *, mailbox: str, message: dict[str, Any], rules: Sequence[email.Rules], now: datetime
) -> list[tuple[str, Event | None, str | None]]:
    """One fetched message (``format=raw``) → its (outcome, event, reason) triples.

    outcome is ``order`` (an ``order.created`` event, one per order the mail carries,
    each with the deterministic id of its order), ``quarantined`` (a rule knew the mail
    but could not read all of it: one event for the mail, carrying the raw MIME and every
    reason) or ``ignored`` (no rule knows it: the one triple has no event). A mail with
    two orders, one readable and one not, gives the readable order and the quarantine.
    """
    body = mime.b64url_decode(str(message.get("raw") or ""))
    mail = mime.parse(body)
    found = email.match(rules, mail)
    if found is None:
        return [("ignored", None, None)]
    at = received_at(message, now)
    raw = raw_record(mailbox, message, body, found.service, at)
    triples: list[tuple[str, Event | None, str | None]] = []
    problems: list[str] = []
    layout_changed: str | None = None
    for extraction in email.extract_orders(found, mail):
        if extraction.complete:
            event = email.order_event(extraction, mail, shop=mailbox, raw=raw, at=at)
            triples.append(("order", event, None))
        else:
            problems += extraction.problems
            layout_changed = layout_changed or extraction.layout_changed
    if problems:
        reason = "; ".join(problems)
        event = quarantine_event(
            source=found.source,
            shop=mailbox,
            raw=raw,
            reason=reason,
            ref=str(message["id"]),
            topic=None,
            at=at,  # the message's own arrival time: the same message, the same event id
        )
        if layout_changed:  # gmail_ingest tells the managers once per service, not per mail
            event["entity"]["layout_changed"] = layout_changed
        triples.append(("quarantined", event, reason))
    return triples


def _decoded(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeDecodeError, ValueError):
        return value


_ADDRESS = re.compile(r"[^\s<>,;\"']+@[^\s<>,;\"']+")


def prematch(rules: Sequence[email.Rules], metadata: dict[str, Any]) -> email.Rules | None:
    """The rules that may know this mail, from its ``format=metadata`` From and Subject.

    Only a filter before the full read (``message_events`` decides): it errs towards a
    match, so that no order mail is left unread. Each address the From header may name
    is tried, with the subject as Gmail gave it and decoded (RFC 2047), since a
    display name Gmail has decoded can look like a list of addresses.
    """
    headers: dict[str, str] = {}
    for header in (metadata.get("payload") or {}).get("headers") or []:
        headers.setdefault(str(header.get("name", "")).lower(), str(header.get("value", "")))
    sender, subject = headers.get("from", ""), headers.get("subject", "")
    addresses = {a.lower() for _, a in getaddresses([sender]) if a}
    addresses |= {a.lower() for a in _ADDRESS.findall(sender)}
    subjects = {" ".join(subject.split()), " ".join(_decoded(subject).split())}
    for address in sorted(addresses) or [""]:
        for text in sorted(subjects):
            mail = mime.Mail(sender=address, subject=text, date=None, html=None, text=None)
            found = email.match(rules, mail)
            if found is not None:
                return found
    return None


def reference_event(
    *, mailbox: str, metadata: dict[str, Any], source: str, reason: str, now: datetime
) -> Event:
    """A ``payload.quarantined`` event for a mail kept by reference: the Gmail id, its size
    and labels, no body (the mail stays in Gmail)."""
    message_id = str(metadata["id"])
    at = received_at(metadata, now)
    raw: Raw = {
        "raw_id": stable_id("gmail", mailbox, message_id),
        "kind": RAW_KIND,
        "received_at": iso(at),
        "sha256": "",
        "meta": {
            "gmail_message_id": message_id,
            "gmail_thread_id": str(metadata.get("threadId") or ""),
            "size_estimate": str(metadata.get("sizeEstimate") or ""),
            "stored": "by reference: the mail is in Gmail, not copied",
        },
    }
    return quarantine_event(
        source=source, shop=mailbox, raw=raw, reason=reason, ref=message_id, topic=None, at=at
    )
