"""``order_form``'s settings, read once from the environment (``OrderFormSettings.from_env``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orderhub.config import (
    DEFAULT_DATABASE,
    DEFAULT_ORDER_EVENTS_TOPIC,
    app_database,
    bigquery_endpoint,
    managers_database,
    positive,
    project_id,
    required,
)
from orderhub.errors import ConfigError
from orderhub.shopify.settings import admin_url, api_version


@dataclass(frozen=True)
class OrderFormSettings:
    """What ``order_form`` needs. Link mode is on only when ``ORDER_FORM_SHOPIFY_TOKEN`` is set:
    a token of its own, scoped to ``write_draft_orders`` only, because the form faces the
    internet (reconciliation's broader ``SHOPIFY_ADMIN_TOKEN`` is never given to it)."""

    project: str
    topic: str
    dataset: str
    bigquery_endpoint: str | None
    shop: str
    session_secret: str
    session_hours: int
    default_country: str
    currency: str
    delivery_methods: tuple[str, ...]
    firestore_prefix: str
    base_path: str
    shopify_admin_url: str
    shopify_admin_token: str
    shopify_api_version: str
    managers_database: str = DEFAULT_DATABASE
    #: The Firestore database of the CRM app's state (``APP_DATABASE``, docs/app-state.md).
    app_database: str = DEFAULT_DATABASE
    #: X-Forwarded-For entries appended by our own proxies: the client is this many from
    #: the right (1: Google's front end only; 2: behind an external load balancer).
    trusted_hops: int = 1
    #: How far back the CRM app reads (its queries' partition filter), ``CRM_HISTORY_DAYS``.
    history_days: int = 400
    #: The shop's time zone (IANA, ``SHOP_TIME_ZONE``): the pages show times in it.
    time_zone: str = "UTC"
    #: The CRM dataset the app's pages read (``CRM_DATASET``; default ``BIGQUERY_DATASET``,
    #: which in production is the catalogue: the form's picker reads only that).
    crm_dataset: str = ""
    #: The CRM's own Dev Dashboard app (scope ``write_draft_orders`` only):
    #: ``ORDER_FORM_SHOPIFY_CLIENT_ID`` / ``_SECRET``; client credentials win over the
    #: legacy ``ORDER_FORM_SHOPIFY_TOKEN``.
    shopify_client_id: str = ""
    shopify_client_secret: str = field(default="", repr=False)
    #: Web Push: the VAPID public key (base64url P-256 point) phones subscribe with;
    #: empty: the app offers no push (its private half is the notifier's secret).
    vapid_public_key: str = ""

    @property
    def shopify_link_enabled(self) -> bool:
        """Draft-order links are offered when the app has credentials for the shop."""
        return bool(self.shopify_admin_token or self.shopify_client_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OrderFormSettings:
        secret = required(env, "ORDER_FORM_SESSION_SECRET")
        client_id = env.get("ORDER_FORM_SHOPIFY_CLIENT_ID", "").strip()
        client_secret = env.get("ORDER_FORM_SHOPIFY_CLIENT_SECRET", "").strip()
        if bool(client_id) != bool(client_secret):
            raise ConfigError(
                "ORDER_FORM_SHOPIFY_CLIENT_ID and ORDER_FORM_SHOPIFY_CLIENT_SECRET go together"
            )
        if len(secret) < 32:
            raise ConfigError("ORDER_FORM_SESSION_SECRET must be at least 32 characters")
        country = env.get("ORDER_FORM_DEFAULT_COUNTRY", "US").strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise ConfigError("ORDER_FORM_DEFAULT_COUNTRY must be a two-letter region, e.g. US")
        currency = env.get("ORDER_FORM_CURRENCY", "USD").strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ConfigError("ORDER_FORM_CURRENCY must be a three-letter code, e.g. USD")
        methods = tuple(
            m.strip().lower()
            for m in env.get("ORDER_FORM_DELIVERY_METHODS", "courier,post,pickup").split(",")
            if m.strip()
        )
        if not methods:
            raise ConfigError("ORDER_FORM_DELIVERY_METHODS must list at least one method")
        try:
            hours = int(env.get("ORDER_FORM_SESSION_HOURS", "12"))
        except ValueError as exc:
            raise ConfigError("ORDER_FORM_SESSION_HOURS must be a whole number") from exc
        shop = required(env, "SHOPIFY_SHOP_DOMAIN").lower()
        zone = env.get("SHOP_TIME_ZONE", "").strip() or "UTC"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"SHOP_TIME_ZONE must be an IANA zone, e.g. Europe/Kyiv: {zone}"
            ) from exc
        return cls(
            project=project_id(env),
            topic=env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC),
            dataset=required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            shop=shop,
            session_secret=secret,
            session_hours=max(1, hours),
            default_country=country,
            currency=currency,
            delivery_methods=methods,
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            base_path="/" + env.get("ORDER_FORM_BASE_PATH", "").strip().strip("/")
            if env.get("ORDER_FORM_BASE_PATH", "").strip().strip("/")
            else "",
            shopify_admin_url=admin_url(env, shop),
            shopify_admin_token=env.get("ORDER_FORM_SHOPIFY_TOKEN", "").strip(),
            shopify_api_version=api_version(env),
            managers_database=managers_database(env),
            app_database=app_database(env),
            trusted_hops=positive(env, "ORDER_FORM_TRUSTED_HOPS", 1),
            history_days=positive(env, "CRM_HISTORY_DAYS", 400),
            crm_dataset=env.get("CRM_DATASET", "").strip() or required(env, "BIGQUERY_DATASET"),
            shopify_client_id=client_id,
            shopify_client_secret=client_secret,
            time_zone=zone,
            vapid_public_key=env.get("VAPID_PUBLIC_KEY", "").strip(),
        )
