"""Environment readers every function's settings share.

Settings are read once, at the edge, into small typed objects (each function's own
``settings.py``). A missing required variable raises ``ConfigError`` naming it; nothing is
read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from orderhub.errors import ConfigError

DEFAULT_ORDER_EVENTS_TOPIC = "order-events"


def required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required but not set")
    return value


def bigquery_endpoint(env: Mapping[str, str]) -> str | None:
    """The BigQuery emulator's URL locally; None in production (the client's default)."""
    return env.get("BIGQUERY_EMULATOR_HOST") or None


def project_id(env: Mapping[str, str]) -> str:
    return required(env, "GOOGLE_CLOUD_PROJECT")


#: Firestore's database when none is named.
DEFAULT_DATABASE = "(default)"


def managers_database(env: Mapping[str, str]) -> str:
    """The Firestore database of the managers (``MANAGERS_DATABASE``): order-form sign-ins
    and whom the notifier tells. A database of its own in production, which functions may
    only read (infra/firestore.tf); the default database when unset."""
    return env.get("MANAGERS_DATABASE", "").strip() or DEFAULT_DATABASE


def app_database(env: Mapping[str, str]) -> str:
    """The Firestore database of the CRM app's writable state (``APP_DATABASE``): switches,
    notification preferences, installations, the change marker and the app's own sessions,
    claims and marks (docs/app-state.md). A database of its own in production (``crm-app``),
    so the app holds no write access to the sync's documents; the default database when unset."""
    return env.get("APP_DATABASE", "").strip() or DEFAULT_DATABASE


def positive(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1, or ``default`` when unset."""
    raw = env.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < 1:
        raise ConfigError(f"{name} must be at least 1")
    return value


def settings_cache_seconds(env: Mapping[str, str] = os.environ) -> float:
    """How long a hot path (the webhook, reconciliation) keeps a shop's ``sync_settings``
    document: ``SYNC_SETTINGS_CACHE_SECONDS``, 30 by default, 0 to read it every time."""
    raw = env.get("SYNC_SETTINGS_CACHE_SECONDS", "").strip()
    try:
        value = float(raw) if raw else 30.0
    except ValueError as exc:
        raise ConfigError(f"SYNC_SETTINGS_CACHE_SECONDS must be a number, got {raw!r}") from exc
    return max(0.0, value)


def load_dev_env(state_dir: Path | None = None) -> None:
    """Put the local stack's ``endpoints.env`` into ``os.environ`` (the operator scripts'
    ``--dev``): ``ORDERHUB_DEV_DIR``, else ``.dev`` in the working directory."""
    state = state_dir or Path(os.environ.get("ORDERHUB_DEV_DIR", ".dev"))
    path = state / "endpoints.env"
    if not path.exists():
        raise SystemExit(f"{path} not found: start the stack with scripts/dev up")
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            os.environ[key] = value[1:-1] if value[:1] == value[-1:] == "'" else value
