"""Where and how to call a shop's Admin API: the settings every Shopify caller shares."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from orderhub.config import required
from orderhub.errors import ConfigError
from orderhub.shopify.admin import DEFAULT_API_VERSION


def admin_url(env: Mapping[str, str], shop: str) -> str:
    """The Admin API's base URL: the shop itself, unless pointed elsewhere (the stand-in)."""
    return env.get("SHOPIFY_ADMIN_URL", "").strip() or f"https://{shop}"


def own_app_ids(env: Mapping[str, str] = os.environ) -> frozenset[str]:
    """Our app's ids (``SHOPIFY_APP_IDS``, comma-separated numbers or ``gid://shopify/App/N``;
    ``currentAppInstallation { app { id } }`` tells it). Only orders created by them can
    be the sync's own; without it every order would be foreign and every echo a second
    order, so a deployment refuses to start: ``ConfigError``."""
    from orderhub.shopify.markers import normalise_app_ids

    ids = normalise_app_ids(env.get("SHOPIFY_APP_IDS", "").split(","))
    if not ids:
        raise ConfigError(
            "environment variable SHOPIFY_APP_IDS is required but not set: our Shopify app's"
            " id (currentAppInstallation { app { id } }), so the sync's own orders are known"
        )
    bad = sorted(i for i in ids if not i.isdigit())
    if bad:
        raise ConfigError(f"SHOPIFY_APP_IDS must be app ids (numbers): {', '.join(bad)}")
    return ids


def api_version(env: Mapping[str, str]) -> str:
    return env.get("SHOPIFY_API_VERSION", "").strip() or DEFAULT_API_VERSION


@dataclass(frozen=True)
class ShopifyAdminSettings:
    """Where and how to call one shop's Admin API (reconciliation, backfill)."""

    shop: str
    url: str
    token: str
    api_version: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ShopifyAdminSettings:
        shop = required(env, "SHOPIFY_SHOP_DOMAIN").lower()
        return cls(
            shop=shop,
            url=admin_url(env, shop),
            token=required(env, "SHOPIFY_ADMIN_TOKEN"),
            api_version=api_version(env),
        )


def admin_shops(env: Mapping[str, str] = os.environ) -> dict[str, ShopifyAdminSettings]:
    """Each shop's Admin API, in the sync's shape: ``SHOPIFY_ADMIN_TOKENS`` (JSON, shop →
    token, a secret) and ``SHOPIFY_ADMIN_URLS`` (JSON, shop → URL; else the shop itself),
    plus ``SHOPIFY_ADMIN_TOKEN`` / ``SHOPIFY_ADMIN_URL`` for ``SHOPIFY_SHOP_DOMAIN``.
    ``ConfigError`` when no shop has a token."""

    def shop_map(name: str) -> dict[str, str]:
        raw = env.get(name, "").strip()
        try:
            value = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f'{name} must be JSON: {{"shop.myshopify.com": "..."}}') from exc
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must map each shop domain to a value")
        return {str(k).strip().lower(): str(v) for k, v in value.items() if v}

    tokens, urls = shop_map("SHOPIFY_ADMIN_TOKENS"), shop_map("SHOPIFY_ADMIN_URLS")
    single = env.get("SHOPIFY_SHOP_DOMAIN", "").strip().lower()
    if single and env.get("SHOPIFY_ADMIN_TOKEN", "").strip():
        tokens.setdefault(single, env["SHOPIFY_ADMIN_TOKEN"].strip())
    if single and env.get("SHOPIFY_ADMIN_URL", "").strip():
        urls.setdefault(single, admin_url(env, single))
    if not tokens:
        raise ConfigError(
            "environment variable SHOPIFY_ADMIN_TOKENS (or SHOPIFY_ADMIN_TOKEN with"
            " SHOPIFY_SHOP_DOMAIN) is required but not set"
        )
    version = api_version(env)
    return {
        shop: ShopifyAdminSettings(
            shop=shop, url=urls.get(shop) or f"https://{shop}", token=token, api_version=version
        )
        for shop, token in tokens.items()
    }
