"""Structured JSON logs on stdout, the form Cloud Logging parses into fields.

Log ids, topics and reasons; never bodies, names, phones, e-mails or addresses. An id that
can be a phone or an e-mail (the record id of a customer from the form or an e-mail) is
logged as ``keyed(id)``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime
from typing import Any


def keyed(value: str | None, key: str) -> str | None:
    """A keyed digest of an identifier for the logs: ``k:`` + the first 16 hex digits of
    SHA-256 over the key (``PRIVACY_DIGEST_KEY``) + the value, so an operator with the key
    can find a customer's lines and nobody else can read them back. Without a key, nothing
    of the value is logged."""
    if not value:
        return value
    if not key:
        return "[redacted]"
    return "k:" + hashlib.sha256((key + value.lower()).encode()).hexdigest()[:16]


def log(severity: str, message: str, **fields: Any) -> None:
    record = {"severity": severity, "message": message, **fields}
    sys.stdout.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)


def seconds_since(moment: str | datetime | None, now: datetime) -> float | None:
    """Seconds from ``moment`` (ISO-8601 or aware datetime) to ``now``, for the lag fields the
    log-based distributions read (``lag_s``); None when the moment is unknown or unreadable."""
    if moment is None or moment == "":
        return None
    try:
        at = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
        return round((now - at).total_seconds(), 3)
    except (TypeError, ValueError):
        return None
