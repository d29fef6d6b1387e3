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
