"""Settings, read once at the edge from the environment into small typed objects.

A missing required variable raises ``ConfigError`` naming it. Nothing here is read
at import time: entry points call ``from_env()`` on first use and cache the result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from orderhub.errors import ConfigError

DEFAULT_ORDER_EVENTS_TOPIC = "order-events"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required but not set")
    return value


def project_id(env: Mapping[str, str]) -> str:
    return _required(env, "GOOGLE_CLOUD_PROJECT")


@dataclass(frozen=True)
class WebhookSettings:
    """What ``shopify_webhook`` needs."""

    project: str
    topic: str
    shop_secrets: Mapping[str, str]
    firestore_prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebhookSettings:
        raw = _required(env, "SHOPIFY_WEBHOOK_SECRETS")
        try:
            secrets = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                'SHOPIFY_WEBHOOK_SECRETS must be JSON: {"shop.myshopify.com": "secret"}'
            ) from exc
        if (
            not isinstance(secrets, dict)
            or not secrets
            or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in secrets.items())
        ):
            raise ConfigError(
                "SHOPIFY_WEBHOOK_SECRETS must map each shop domain to a non-empty secret"
            )
        return cls(
            project=project_id(env),
            topic=env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC),
            shop_secrets={k.lower(): v for k, v in secrets.items()},
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
        )


@dataclass(frozen=True)
class CrmSettings:
    """What ``crm_writer`` needs."""

    project: str
    dataset: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CrmSettings:
        return cls(project=project_id(env), dataset=_required(env, "BIGQUERY_DATASET"))


@dataclass(frozen=True)
class NotifierSettings:
    """What ``notifier`` needs. ``MANYCHAT_TOKEN`` is a secret (Secret Manager in infra)."""

    project: str
    dataset: str
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

        tag = env.get("MANYCHAT_MESSAGE_TAG", "ACCOUNT_UPDATE").strip().upper()
        return cls(
            project=project_id(env),
            dataset=_required(env, "BIGQUERY_DATASET"),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            manychat_api_url=env.get("MANYCHAT_API_URL", "").strip() or "https://api.manychat.com",
            manychat_token=_required(env, "MANYCHAT_TOKEN"),
            message_tag=tag if tag not in ("", "NONE") else None,
            managers_fallback=env.get("NOTIFY_MANAGERS", ""),
            order_url=env.get("NOTIFY_ORDER_URL", "").strip(),
            lease_seconds=int(number("NOTIFY_LEASE_SECONDS", "60")),
            max_attempts=int(number("NOTIFY_MAX_ATTEMPTS", "8")),
            rate_per_second=number("MANYCHAT_RATE_PER_SECOND", "25"),
        )
