"""Where and how to call a shop's Admin API: the settings every Shopify caller shares."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orderhub.config import required
from orderhub.errors import ConfigError
from orderhub.shopify.tokens import ClientCredentials, StaticToken, TokenSource, token_url
from orderhub.shopify.versions import DEFAULT_API_VERSION


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
    """Where and how to call one shop's Admin API, and with which app's credentials:
    the Dev Dashboard app's client id and secret (client credentials, the default), else a
    legacy static token."""

    shop: str
    url: str
    token: str
    api_version: str
    client_id: str = ""
    client_secret: str = field(default="", repr=False)

    def token_source(self, session: Any = None) -> TokenSource:
        """Client credentials when the app's id and secret are set, else the static token."""
        if self.client_id and self.client_secret:
            return ClientCredentials(
                token_url(self.url), self.client_id, self.client_secret, session=session
            )
        if self.token:
            return StaticToken(self.token)
        raise ConfigError(
            f"shop {self.shop} has no credentials: set SHOPIFY_CLIENT_ID and"
            " SHOPIFY_CLIENT_SECRET (or a legacy SHOPIFY_ADMIN_TOKENS entry)"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ShopifyAdminSettings:
        shop = required(env, "SHOPIFY_SHOP_DOMAIN").lower()
        client_id, client_secret = client_credentials(env)
        return cls(
            shop=shop,
            url=admin_url(env, shop),
            token=env.get("SHOPIFY_ADMIN_TOKEN", "").strip()
            if client_id
            else required(env, "SHOPIFY_ADMIN_TOKEN"),
            api_version=api_version(env),
            client_id=client_id,
            client_secret=client_secret,
        )


def client_credentials(env: Mapping[str, str]) -> tuple[str, str]:
    """The Dev Dashboard app's ``SHOPIFY_CLIENT_ID`` and ``SHOPIFY_CLIENT_SECRET`` (a
    secret); both or neither."""
    client_id = env.get("SHOPIFY_CLIENT_ID", "").strip()
    secret = env.get("SHOPIFY_CLIENT_SECRET", "").strip()
    if bool(client_id) != bool(secret):
        raise ConfigError("SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET go together: set both")
    return client_id, secret


def admin_shops(env: Mapping[str, str] = os.environ) -> dict[str, ShopifyAdminSettings]:
    """Each shop's Admin API. The shops: ``SHOPIFY_SHOPS`` (comma-separated),
    ``SHOPIFY_SHOP_DOMAIN``, and the keys of ``SHOPIFY_ADMIN_TOKENS`` (JSON, shop → legacy
    token, a secret) and ``SHOPIFY_ADMIN_URLS`` (JSON, shop → URL; else the shop itself;
    ``SHOPIFY_ADMIN_URL`` for ``SHOPIFY_SHOP_DOMAIN``). With ``SHOPIFY_CLIENT_ID`` and
    ``SHOPIFY_CLIENT_SECRET`` every shop uses the app's client credentials (the default);
    without them, only shops with a legacy token are called. ``ConfigError`` when no shop
    has credentials."""

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
    client_id, client_secret = client_credentials(env)
    shops = dict.fromkeys(tokens)
    if client_id:
        listed = [s.strip().lower() for s in env.get("SHOPIFY_SHOPS", "").split(",")]
        shops.update(dict.fromkeys(s for s in [*listed, single, *urls] if s))
    if not shops:
        raise ConfigError(
            "no shop to call: set SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET with"
            " SHOPIFY_SHOP_DOMAIN (or SHOPIFY_SHOPS), or the legacy SHOPIFY_ADMIN_TOKENS"
            " (or SHOPIFY_ADMIN_TOKEN with SHOPIFY_SHOP_DOMAIN)"
        )
    version = api_version(env)
    return {
        shop: ShopifyAdminSettings(
            shop=shop,
            url=urls.get(shop) or f"https://{shop}",
            token=tokens.get(shop, ""),
            api_version=version,
            client_id=client_id,
            client_secret=client_secret,
        )
        for shop in shops
    }
