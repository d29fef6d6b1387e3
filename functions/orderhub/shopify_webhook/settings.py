"""What ``shopify_webhook`` needs, read once from the environment."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from orderhub.config import (
    DEFAULT_DATABASE,
    DEFAULT_ORDER_EVENTS_TOPIC,
    app_database,
    positive,
    project_id,
    required,
)
from orderhub.errors import ConfigError
from orderhub.shopify.settings import own_app_ids as read_app_ids


class AppSecrets(Mapping[str, str]):
    """Each shop's webhook secret: its own (``SHOPIFY_WEBHOOK_SECRETS``), else, for any
    ``*.myshopify.com`` shop, the app's client secret (``SHOPIFY_CLIENT_SECRET``): Shopify
    signs a Dev Dashboard app's webhooks with it, on every shop that installed the app."""

    SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")

    def __init__(self, own: Mapping[str, str], app_secret: str = "") -> None:
        self._own, self._app = dict(own), app_secret

    def __getitem__(self, shop: str) -> str:
        if shop in self._own:
            return self._own[shop]
        if self._app and self.SHOP.fullmatch(shop):
            return self._app
        raise KeyError(shop)

    def __iter__(self) -> Iterator[str]:
        return iter(self._own)

    def __len__(self) -> int:
        return len(self._own)


@dataclass(frozen=True)
class WebhookSettings:
    """What ``shopify_webhook`` needs."""

    project: str
    topic: str
    shop_secrets: Mapping[str, str]
    firestore_prefix: str
    #: Our app's ids (``SHOPIFY_APP_IDS``, required; ``currentAppInstallation``): only
    #: orders created by them can be echoes of shopify_sync's writes.
    own_app_ids: frozenset[str] = frozenset()
    #: A body over this (or of unknown length) is answered 413 unread.
    max_body_bytes: int = 1024 * 1024
    #: The Firestore database of the CRM app's state (``APP_DATABASE``, docs/app-state.md).
    app_database: str = DEFAULT_DATABASE

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebhookSettings:
        raw = required(env, "SHOPIFY_WEBHOOK_SECRETS")
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
            shop_secrets=AppSecrets(
                {k.lower(): v for k, v in secrets.items()},
                env.get("SHOPIFY_CLIENT_SECRET", "").strip(),
            ),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            own_app_ids=read_app_ids(env),
            max_body_bytes=positive(env, "WEBHOOK_MAX_BODY_BYTES", 1024 * 1024),
            app_database=app_database(env),
        )
