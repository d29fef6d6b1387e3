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
import email.errors
import email.parser
import email.policy
import functools
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

#: The receiving server whose verdicts we trust: Gmail's own.
TRUSTED_AUTHSERV = "mx.google.com"
#: The ARC sealer whose recorded verdict we trust: Gmail, when a Gmail mailbox forwards.
TRUSTED_SEALER = "google.com"
#: Gmail's header is well under 1 KB; anything far longer is not Gmail's, and is not parsed.
MAX_VERDICT_CHARS = 8_192
#: How many Authentication-Results headers are looked at, top down, for Gmail's.
MAX_VERDICT_HEADERS = 20
#: Longest From header read (one address with a display name is far shorter).
MAX_FROM_CHARS = 1_000
#: Years a mail's Date can plausibly carry; any other Date is treated as absent.
PLAUSIBLE_YEARS = range(2000, 2200)
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")
_AUTHSERV = re.compile(r"[ \t]*([^\s;()]*)")


@dataclass(frozen=True)
class Verdict:
    """What Gmail's own ``Authentication-Results`` header (RFC 8601) says passed.

    Only each method's own result and its ``header.d`` / ``header.i`` (DKIM) or
    ``header.from`` (DMARC) property are read: comments and ``smtp.mailfrom`` repeat
    what the sender chose and vouch for nothing.
    """

    #: Signing domains with ``dkim=pass`` (``header.d``, else the domain of ``header.i``).
    dkim: frozenset[str] = frozenset()
    #: ``header.from`` domains with ``dmarc=pass``.
    dmarc: frozenset[str] = frozenset()
    #: Why nothing could be read (no header from Gmail, or one that does not parse).
    problem: str | None = None
    #: Gmail's ``arc`` result (``pass``, ``fail``, ``none``; None when it gave none).
    arc: str | None = None
    #: A forwarded mail's verdict as Gmail recorded it at the forwarding mailbox: the
    #: newest ARC set, sealed by ``google.com``, its ``mx.google.com`` results; read only
    #: when Gmail's own header says ``arc=pass`` (the chain and its seals verified).
    forwarded: Verdict | None = None
    #: Who sealed the newest ARC set (``d=`` of its ``ARC-Seal``), when there is one.
    sealer: str | None = None

    def says(self) -> str:
        """What Gmail's verdict says, for a quarantine reason: the passes it holds, and
        what the ARC chain said (``dkim=pass header.d=…; arc=fail``)."""
        parts = [f"dkim=pass header.d={d}" for d in sorted(self.dkim)]
        parts += [f"dmarc=pass header.from={d}" for d in sorted(self.dmarc)]
        if not parts:
            parts.append("no DKIM or DMARC pass")
        if self.arc:
            parts.append(f"arc={self.arc}")
        if self.arc == "pass" and self.forwarded is None and self.sealer:
            parts.append(f"ARC sealed by {self.sealer}, not by Gmail: not read")
        if self.forwarded is not None:
            inner = self.forwarded
            passes = [f"dkim=pass header.d={d}" for d in sorted(inner.dkim)]
            passes += [f"dmarc=pass header.from={d}" for d in sorted(inner.dmarc)]
            parts.append(f"forwarded by Gmail: {', '.join(passes) or 'no DKIM or DMARC pass'}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Mail:
    """What the rules need from one message."""

    sender: str  # the bare address, lower-case ("" unless From names exactly one address)
    subject: str
    date: datetime | None
    html: str | None
    text: str | None
    #: Every ``Authentication-Results`` value, top first (``verdict`` reads Gmail's).
    auth_results: tuple[str, ...] = ()
    #: Every ``ARC-Seal`` and ``ARC-Authentication-Results`` value, top first (a mail
    #: forwarded by Gmail carries Gmail's seal and its verdict at the first mailbox).
    arc_seals: tuple[str, ...] = ()
    arc_results: tuple[str, ...] = ()
    #: Why the body could not be read at all (then ``html`` and ``text`` are None).
    unreadable: str | None = None

    @functools.cached_property
    def verdict(self) -> Verdict:
        """Gmail's own verdict on who sent it (the topmost ``mx.google.com`` header),
        parsed when first asked: only for mail that a rule recognises."""
        verdict = verdict_of(list(self.auth_results))
        if verdict.arc == "pass":
            verdict = replace(
                verdict,
                sealer=newest_sealer(list(self.arc_seals)),
                forwarded=forwarded_verdict(list(self.arc_seals), list(self.arc_results)),
            )
        return verdict

    @property
    def authenticated(self) -> frozenset[str]:
        """Every domain with a DKIM or DMARC pass in Gmail's verdict."""
        return self.verdict.dkim | self.verdict.dmarc


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
    except (LookupError, UnicodeError, ValueError):
        # a charset Python does not know, or a codec that is no charset (idna refuses
        # errors="replace"): keep what reads
        return payload.decode("utf-8", errors="replace")


def _header(message: Message, name: str) -> str:
    """A header's text, RFC 2047 encoded words decoded (``=?windows-1251?b?...?=``)."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError, email.errors.MessageError):
        # an unknown or lying charset, or an encoded word that does not decode
        return str(value)


def _sender(message: Message) -> str:
    """The one address in From, read before decoding (an encoded word cannot hide
    another address); "" when From names none or several, or is no plausible From
    (the standard library's parser recurses once per nested comment: thousands of
    "(" would raise RecursionError)."""
    value = str(message.get("From") or "")
    if len(value) > MAX_FROM_CHARS:
        return ""
    try:
        addresses = [a for _, a in getaddresses([value]) if a]
    except (RecursionError, ValueError):
        return ""
    return addresses[0].lower() if len(addresses) == 1 else ""


def _domain(value: str | None) -> str | None:
    """The domain of a ``header.d`` / ``header.i`` / ``header.from`` value, lower-case."""
    if not value:
        return None
    domain = value.rpartition("@")[2].strip().strip('"').rstrip(".").lower()
    return domain or None


def _property(result: Any, kind: str, name: str) -> str | None:
    for prop in result.properties:
        if prop.type.lower() == kind and prop.name.lower() == name:
            return str(prop.value)
    return None


@functools.cache
def _authres_context() -> Any:
    import authres

    return authres.all_features()


def verdict_of(values: list[str]) -> Verdict:
    """Gmail's verdict from a message's ``Authentication-Results`` values, top first.

    The topmost header whose authserv-id is ``mx.google.com`` is Gmail's: Gmail adds it
    above everything the sender wrote, so a header a sender forged sits below it and is
    not read; headers of other servers are not read either. Parsed as RFC 8601 says
    (``authres``); a header that does not parse vouches for nothing.
    """
    import authres

    for value in values[:MAX_VERDICT_HEADERS]:
        value = _UNFOLD.sub("", value)
        found = _AUTHSERV.match(value)
        if found is None or found.group(1).lower() != TRUSTED_AUTHSERV:
            continue  # another server's header (or none we can name): not Gmail's word
        if len(value) > MAX_VERDICT_CHARS:
            return Verdict(problem="Gmail's Authentication-Results is implausibly long")
        try:
            header = _authres_context().parse_value(value)
        except (authres.AuthResError, RecursionError, ValueError) as exc:
            return Verdict(problem=f"Gmail's Authentication-Results does not parse ({exc})")
        dkim: set[str] = set()
        dmarc: set[str] = set()
        arc: str | None = None
        for result in header.results:
            method, outcome = str(result.method).lower(), str(result.result).lower()
            if method == "arc" and arc is None:
                arc = outcome
            if outcome != "pass":
                continue
            if method == "dkim":
                domain = _domain(_property(result, "header", "d")) or _domain(
                    _property(result, "header", "i")
                )
                if domain:
                    dkim.add(domain)
            elif method == "dmarc":
                domain = _domain(_property(result, "header", "from"))
                if domain:
                    dmarc.add(domain)
        return Verdict(dkim=frozenset(dkim), dmarc=frozenset(dmarc), arc=arc)
    return Verdict(problem="no Authentication-Results from mx.google.com")


_INSTANCE = re.compile(r"\s*i\s*=\s*([0-9]+)\s*;", re.IGNORECASE)
_SEALER = re.compile(r"(?:^|;)\s*d\s*=\s*([^\s;]+)", re.IGNORECASE)


def _instance(value: str) -> tuple[int, str] | None:
    """An ARC header's instance (``i=``) and the rest of its value."""
    value = _UNFOLD.sub("", value)
    found = _INSTANCE.match(value)
    return (int(found.group(1)), value[found.end() :]) if found else None


def newest_sealer(seals: list[str]) -> str | None:
    """The domain (``d=``) that sealed the newest ARC set, lower-case; None without one."""
    sets = [parsed for parsed in map(_instance, seals[:MAX_VERDICT_HEADERS]) if parsed]
    if not sets:
        return None
    sealer = _SEALER.search(max(sets, key=lambda found: found[0])[1])
    return sealer.group(1).strip().lower().rstrip(".") if sealer else None


def forwarded_verdict(seals: list[str], results: list[str]) -> Verdict | None:
    """The verdict Gmail recorded at the mailbox that forwarded the mail: the newest ARC
    set's ``ARC-Authentication-Results`` when that set is sealed by ``google.com``, with
    authserv-id ``mx.google.com``. Call it only when Gmail's own header says
    ``arc=pass``: then every seal verified, so the set is Google's own (a seal claiming
    ``d=google.com`` that Google did not make fails the chain). None otherwise."""
    sets = [parsed for parsed in map(_instance, seals[:MAX_VERDICT_HEADERS]) if parsed]
    if not sets or newest_sealer(seals) != TRUSTED_SEALER:
        return None
    newest = max(found[0] for found in sets)
    for value in results[:MAX_VERDICT_HEADERS]:
        parsed = _instance(value)
        if parsed is not None and parsed[0] == newest:
            verdict = verdict_of([parsed[1].strip()])
            return None if verdict.problem else replace(verdict, arc=None)
    return None


def parse(raw: bytes) -> Mail:
    """Headers and the bodies of a raw message (either body may be None).

    The ``compat32`` policy is used with explicit header decoding: the modern policy's
    header objects cost about a third of the whole parse, for nothing we need.
    """
    html: str | None = None
    text: str | None = None
    unreadable: str | None = None
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        for part in message.walk():
            if part.is_multipart() or part.get_content_disposition() == "attachment":
                continue
            kind = part.get_content_type()
            if kind == "text/html" and html is None:
                html = _part_text(part)
            elif kind == "text/plain" and text is None:
                text = _part_text(part)
    except RecursionError:
        # The standard library parses nested multiparts recursively: a few thousand
        # levels raise. The headers still say who sent it; the body is not read.
        message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        html = text = None
        unreadable = "the MIME parts are nested too deep to read"
    date: datetime | None = None
    if message["Date"]:
        try:
            date = parsedate_to_datetime(str(message["Date"]))
            if date.tzinfo is None:
                date = date.replace(tzinfo=UTC)
            if date.astimezone(UTC).year not in PLAUSIBLE_YEARS:
                date = None  # year 1 at +14:00 is year 0 in UTC, which cannot be written
        except (TypeError, ValueError, OverflowError):
            date = None
    return Mail(
        sender=_sender(message),
        subject=" ".join(_header(message, "Subject").split()),
        date=date,
        html=html,
        text=text,
        auth_results=tuple(str(v) for v in message.get_all("Authentication-Results") or []),
        arc_seals=tuple(str(v) for v in message.get_all("ARC-Seal") or []),
        arc_results=tuple(str(v) for v in message.get_all("ARC-Authentication-Results") or []),
        unreadable=unreadable,
    )
