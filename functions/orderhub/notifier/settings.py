"""What ``notifier`` needs, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from orderhub.config import (
    DEFAULT_DATABASE,
    app_database,
    bigquery_endpoint,
    managers_database,
    project_id,
    required,
)
from orderhub.errors import ConfigError


@dataclass(frozen=True)
class NotifierSettings:
    """What ``notifier`` needs. ``MANYCHAT_TOKEN`` is a secret (Secret Manager in infra)."""

    project: str
    dataset: str
    bigquery_endpoint: str | None
    firestore_prefix: str
    manychat_api_url: str
    manychat_token: str
    #: Messenger message tag sent with every message; empty sends none (24-hour rule).
    message_tag: str | None
    #: JSON list of managers, used only while Firestore's settings/managers is absent.
    managers_fallback: str
    #: Link for non-Shopify orders, with {order_id} and {shop}; empty means no button.
    order_url: str
    lease_seconds: int
    max_attempts: int
    rate_per_second: float
    managers_database: str = DEFAULT_DATABASE
    #: The Firestore database of the CRM app's state (``APP_DATABASE``, docs/app-state.md).
    app_database: str = DEFAULT_DATABASE
    #: Orders created (or cancelled) longer ago than this are recorded, not announced.
    max_age_hours: float = 24.0
    #: The shop's mailbox that e-mails a manager whose Messenger window closed; empty: off.
    fallback_from: str = ""
    #: The shop's Gmail OAuth client and a refresh token of its own grant, ``gmail.send``
    #: only (``GMAIL_SEND_REFRESH_TOKEN``): the notifier cannot read the mailbox, and the
    #: reading functions' grant (``GMAIL_REFRESH_TOKEN``, ``gmail.readonly``) cannot send.
    gmail_client_id: str | None = None
    gmail_client_secret: str | None = None
    gmail_refresh_token: str | None = None
    gmail_api_url: str | None = None  # the local stand-in
    #: Web Push (RFC 8292 VAPID): the private key (a secret) and the contact the push
    #: services see (``mailto:`` or ``https:``); no key: no Web Push.
    vapid_private_key: str = ""
    vapid_subject: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> NotifierSettings:
        def number(name: str, default: str) -> float:
            raw = env.get(name, "").strip() or default
            try:
                value = float(raw)
            except ValueError as exc:
                raise ConfigError(f"{name} must be a number, not {raw!r}") from exc
            if value <= 0:
                raise ConfigError(f"{name} must be positive")
            return value

        fallback_from = env.get("NOTIFY_FALLBACK_FROM", "").strip()
        refresh = env.get("GMAIL_SEND_REFRESH_TOKEN", "").strip()
        gmail_api_url = env.get("GMAIL_API_URL", "").strip() or None
        if fallback_from and not (refresh or gmail_api_url):
            raise ConfigError(
                "NOTIFY_FALLBACK_FROM needs GMAIL_SEND_REFRESH_TOKEN: a grant of gmail.send only"
                " (scripts/gmail_authorize --send), not the readers' GMAIL_REFRESH_TOKEN"
            )
        vapid_key = env.get("VAPID_PRIVATE_KEY", "").strip()
        vapid_subject = env.get("VAPID_SUBJECT", "").strip()
        if vapid_key and not vapid_subject.startswith(("mailto:", "https:")):
            raise ConfigError("VAPID_SUBJECT must be a mailto: or https: URI (RFC 8292)")
        # No tag by default: Meta allows tags only for updates personally relevant to the
        # recipient, which alerts to the shop's own managers are not.
        tag = env.get("MANYCHAT_MESSAGE_TAG", "").strip().upper()
        return cls(
            project=project_id(env),
            dataset=required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            manychat_api_url=env.get("MANYCHAT_API_URL", "").strip() or "https://api.manychat.com",
            manychat_token=required(env, "MANYCHAT_TOKEN"),
            message_tag=tag if tag not in ("", "NONE") else None,
            managers_fallback=env.get("NOTIFY_MANAGERS", ""),
            order_url=env.get("NOTIFY_ORDER_URL", "").strip(),
            lease_seconds=int(number("NOTIFY_LEASE_SECONDS", "60")),
            max_attempts=int(number("NOTIFY_MAX_ATTEMPTS", "8")),
            rate_per_second=number("MANYCHAT_RATE_PER_SECOND", "25"),
            managers_database=managers_database(env),
            app_database=app_database(env),
            max_age_hours=number("NOTIFY_MAX_AGE_HOURS", "24"),
            fallback_from=fallback_from,
            gmail_client_id=env.get("GMAIL_CLIENT_ID", "").strip() or None,
            gmail_client_secret=env.get("GMAIL_CLIENT_SECRET", "").strip() or None,
            gmail_refresh_token=refresh or None,
            gmail_api_url=gmail_api_url,
            vapid_private_key=vapid_key,
            vapid_subject=vapid_subject,
        )
