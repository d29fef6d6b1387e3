"""Structured JSON logs on stdout, the form Cloud Logging parses into fields.

Log ids, topics and reasons; never bodies, names, phones, e-mails or addresses.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any


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
