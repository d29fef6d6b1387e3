"""What ``chatbot`` needs, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from orderhub.config import (
    DEFAULT_DATABASE,
    DEFAULT_ORDER_EVENTS_TOPIC,
    bigquery_endpoint,
    managers_database,
    project_id,
    required,
)
from orderhub.errors import ConfigError


@dataclass(frozen=True)
class ChatbotSettings:
    """What ``chatbot`` needs. ``CHATBOT_SECRET`` is a secret (Secret Manager in infra):
    the bot author puts it in the ``CHATBOT_SECRET_HEADER`` header of every request."""

    project: str
    topic: str
    dataset: str
    bigquery_endpoint: str | None
    shop: str
    secret: str
    secret_header: str
    default_country: str
    currency: str
    #: The storefront the product links open (the shop's own domain).
    store_url: str
    #: This function's public URL, for the catalogue's "More" callback.
    public_url: str
    cache_seconds: float
    attribution_days: int
    #: Whose posts ``/contacts`` ignores: the managers (``settings/managers`` in the managers
    #: database, read-only; ``NOTIFY_MANAGERS`` while it is absent). A manager's touch would
    #: reset what Needs attention shows of that manager's Messenger window.
    managers_database: str = DEFAULT_DATABASE
    managers_fallback: str = ""
    firestore_prefix: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ChatbotSettings:
        secret = required(env, "CHATBOT_SECRET")
        if len(secret) < 16:
            raise ConfigError("CHATBOT_SECRET must be at least 16 characters")
        header = env.get("CHATBOT_SECRET_HEADER", "").strip() or "X-OrderHub-Secret"
        country = env.get("CHATBOT_DEFAULT_COUNTRY", "US").strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise ConfigError("CHATBOT_DEFAULT_COUNTRY must be a two-letter region, e.g. US")
        currency = env.get("CHATBOT_CURRENCY", "USD").strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ConfigError("CHATBOT_CURRENCY must be a three-letter code, e.g. USD")
        shop = required(env, "SHOPIFY_SHOP_DOMAIN").lower()
        store = env.get("CHATBOT_STORE_URL", "").strip().rstrip("/") or f"https://{shop}"
        try:
            cache = float(env.get("CHATBOT_CACHE_SECONDS", "").strip() or "60")
            days = int(env.get("CHATBOT_ATTRIBUTION_DAYS", "").strip() or "30")
        except ValueError as exc:
            raise ConfigError(
                "CHATBOT_CACHE_SECONDS and CHATBOT_ATTRIBUTION_DAYS must be numbers"
            ) from exc
        if cache < 0 or days < 1:
            raise ConfigError("CHATBOT_CACHE_SECONDS >= 0 and CHATBOT_ATTRIBUTION_DAYS >= 1")
        return cls(
            project=project_id(env),
            topic=env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC),
            dataset=required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            shop=shop,
            secret=secret,
            secret_header=header,
            default_country=country,
            currency=currency,
            store_url=store,
            public_url=env.get("CHATBOT_PUBLIC_URL", "").strip().rstrip("/"),
            cache_seconds=cache,
            attribution_days=days,
            managers_database=managers_database(env),
            managers_fallback=env.get("NOTIFY_MANAGERS", ""),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
        )
