"""What ``shopify_sync`` needs, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from orderhub.config import (
    DEFAULT_DATABASE,
    DEFAULT_ORDER_EVENTS_TOPIC,
    app_database,
    bigquery_endpoint,
    project_id,
    required,
)
from orderhub.errors import ConfigError
from orderhub.shopify.settings import ShopifyAdminSettings, admin_shops, api_version


@dataclass(frozen=True)
class ShopifySyncSettings:
    """What ``shopify_sync`` needs. One Admin API token per shop: ``SHOPIFY_ADMIN_TOKENS``
    (JSON ``{"shop.myshopify.com": "shpat_..."}``, a secret), or ``SHOPIFY_ADMIN_TOKEN`` for
    the one shop ``SHOPIFY_SHOP_DOMAIN``. ``SHOPIFY_ADMIN_URLS`` (JSON, shop → URL) points
    shops at stand-ins; else ``SHOPIFY_ADMIN_URL`` or the shop itself."""

    project: str
    topic: str
    dataset: str
    bigquery_endpoint: str | None
    firestore_prefix: str
    tokens: Mapping[str, str]
    urls: Mapping[str, str]
    api_version: str
    lease_seconds: float
    #: How long a create without an answer stays ``sending`` (longer than Shopify's search
    #: index lags): ``SHOPIFY_SYNC_SETTLE_SECONDS``, 120.
    settle_seconds: float = 120.0
    #: Where orders keyed by something else than a shop (a mailbox) go: SHOPIFY_SHOP_DOMAIN.
    default_shop: str | None = None
    #: Each shop's Admin API with its app's credentials (``admin_shops``).
    admins: Mapping[str, ShopifyAdminSettings] = field(default_factory=dict)
    #: ``PRIVACY_DIGEST_KEY`` (a secret): the key of the record ids in the logs (``logs.keyed``).
    digest_key: str = ""
    #: The Firestore database of the CRM app's state (``APP_DATABASE``, docs/app-state.md).
    app_database: str = DEFAULT_DATABASE

    def shop_of(self, crm_shop: str) -> str | None:
        """The Shopify shop for an event's shop key: itself when it has a token, else the
        one shop of a single-shop setup (e-mail orders name the mailbox), else None."""
        key = crm_shop.lower()
        if key in self.tokens:
            return key
        if self.default_shop:
            return self.default_shop
        return next(iter(self.tokens)) if len(self.tokens) == 1 else None

    def admin(self, shop: str) -> ShopifyAdminSettings:
        """The Admin API of one shop; ``ConfigError`` for a shop without a token."""
        if shop in self.admins:
            return self.admins[shop]
        token = self.tokens.get(shop)
        if not token:
            raise ConfigError(f"no Admin API token for shop {shop}: add it to SHOPIFY_ADMIN_TOKENS")
        return ShopifyAdminSettings(
            shop=shop,
            url=self.urls.get(shop) or f"https://{shop}",
            token=token,
            api_version=self.api_version,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ShopifySyncSettings:
        shops = admin_shops(env)  # ConfigError when no shop has a token
        single = env.get("SHOPIFY_SHOP_DOMAIN", "").strip().lower()
        try:
            lease = float(env.get("SHOPIFY_SYNC_LEASE_SECONDS", "").strip() or "120")
        except ValueError as exc:
            raise ConfigError("SHOPIFY_SYNC_LEASE_SECONDS must be a number") from exc
        try:
            settle = float(env.get("SHOPIFY_SYNC_SETTLE_SECONDS", "").strip() or "120")
        except ValueError as exc:
            raise ConfigError("SHOPIFY_SYNC_SETTLE_SECONDS must be a number") from exc
        return cls(
            project=project_id(env),
            topic=env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC),
            dataset=required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            tokens={shop: admin.token for shop, admin in shops.items()},
            urls={shop: admin.url for shop, admin in shops.items()},
            api_version=api_version(env),
            lease_seconds=max(1.0, lease),
            settle_seconds=max(1.0, settle),
            default_shop=single or None,
            admins=shops,
            digest_key=env.get("PRIVACY_DIGEST_KEY", ""),
            app_database=app_database(env),
        )
