"""Settings, read once at the edge from the environment into small typed objects.

A missing required variable raises ``ConfigError`` naming it. Nothing here is read
at import time: entry points call ``from_env()`` on first use and cache the result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from orderhub.errors import ConfigError
from orderhub.shopify_admin import DEFAULT_API_VERSION

DEFAULT_ORDER_EVENTS_TOPIC = "order-events"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required but not set")
    return value


def _admin_url(env: Mapping[str, str], shop: str) -> str:
    """The Admin API's base URL: the shop itself, unless pointed elsewhere (the stand-in)."""
    return env.get("SHOPIFY_ADMIN_URL", "").strip() or f"https://{shop}"


def _api_version(env: Mapping[str, str]) -> str:
    return env.get("SHOPIFY_API_VERSION", "").strip() or DEFAULT_API_VERSION


def bigquery_endpoint(env: Mapping[str, str]) -> str | None:
    """The BigQuery emulator's URL locally; None in production (the client's default)."""
    return env.get("BIGQUERY_EMULATOR_HOST") or None


def project_id(env: Mapping[str, str]) -> str:
    return _required(env, "GOOGLE_CLOUD_PROJECT")


#: Firestore's database when none is named.
DEFAULT_DATABASE = "(default)"


def managers_database(env: Mapping[str, str]) -> str:
    """The Firestore database of the managers (``MANAGERS_DATABASE``): order-form sign-ins
    and whom the notifier tells. A database of its own in production, which functions may
    only read (infra/firestore.tf); the default database when unset."""
    return env.get("MANAGERS_DATABASE", "").strip() or DEFAULT_DATABASE


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1, or ``default`` when unset."""
    raw = env.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < 1:
        raise ConfigError(f"{name} must be at least 1")
    return value


@dataclass(frozen=True)
class WebhookSettings:
    """What ``shopify_webhook`` needs."""

    project: str
    topic: str
    shop_secrets: Mapping[str, str]
    firestore_prefix: str
    #: Our app's ids (``SHOPIFY_APP_IDS``, comma-separated; ``currentAppInstallation``):
    #: only orders created by them can be echoes of shopify_sync's writes.
    own_app_ids: frozenset[str] = frozenset()
    #: A body over this (or of unknown length) is answered 413 unread.
    max_body_bytes: int = 1024 * 1024

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
            own_app_ids=frozenset(
                part.strip().rsplit("/", 1)[-1]
                for part in env.get("SHOPIFY_APP_IDS", "").split(",")
                if part.strip()
            ),
            max_body_bytes=_positive(env, "WEBHOOK_MAX_BODY_BYTES", 1024 * 1024),
        )


@dataclass(frozen=True)
class CrmSettings:
    """What ``crm_writer`` needs."""

    project: str
    dataset: str
    bigquery_endpoint: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CrmSettings:
        return cls(
            project=project_id(env),
            dataset=_required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
        )


@dataclass(frozen=True)
class GmailSettings:
    """What ``gmail_ingest`` and ``gmail_watch_renew`` need.

    Credentials: ``GMAIL_CLIENT_ID``, ``GMAIL_CLIENT_SECRET`` and ``GMAIL_REFRESH_TOKEN``
    (from Secret Manager in production; ``scripts/gmail_authorize`` prints the token).
    ``GMAIL_API_URL`` points the client at another endpoint (the local stand-in); with it
    and no refresh token, anonymous credentials are used.
    """

    project: str
    topic: str
    firestore_prefix: str
    api_url: str | None
    client_id: str | None
    client_secret: str | None
    refresh_token: str | None
    mailbox: str | None  # the watched account, for gmail_watch_renew
    push_topic: str  # full topic path given to users.watch
    page_size: int
    full_sync_days: int  # how far back a mailbox's first sync reads
    full_sync_margin_hours: int  # a full sync reads from the last good sync minus this
    max_messages_per_run: int  # a longer backlog continues in the next run
    max_seconds_per_run: int  # likewise, by time (below the function's timeout)
    max_message_bytes: int  # larger mail is never fetched raw: quarantined by reference
    max_attempts: int  # a mail that brought down this many runs is set aside

    @property
    def only_mailbox(self) -> str | None:
        """The one mailbox notifications may name, when real credentials are in use.

        One refresh token reads one account; a notification for another address could
        only fail. The stand-in (no refresh token) serves every address, one mailbox
        each, which is how tests keep apart.
        """
        return self.mailbox if self.refresh_token else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GmailSettings:
        project = project_id(env)
        api_url = env.get("GMAIL_API_URL", "").strip() or None
        refresh = env.get("GMAIL_REFRESH_TOKEN", "").strip() or None
        client_id = client_secret = None
        if refresh or not api_url:
            refresh = _required(env, "GMAIL_REFRESH_TOKEN")
            client_id = _required(env, "GMAIL_CLIENT_ID")
            client_secret = _required(env, "GMAIL_CLIENT_SECRET")
        push_topic = env.get("GMAIL_PUSH_TOPIC", "gmail-push").strip()
        if not push_topic.startswith("projects/"):
            push_topic = f"projects/{project}/topics/{push_topic}"

        def number(name: str, default: int) -> int:
            raw = env.get(name, "").strip()
            try:
                value = int(raw) if raw else default
            except ValueError as exc:
                raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
            if value < 1:
                raise ConfigError(f"{name} must be at least 1")
            return value

        return cls(
            project=project,
            topic=env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            api_url=api_url,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh,
            mailbox=env.get("GMAIL_MAILBOX", "").strip().lower() or None,
            push_topic=push_topic,
            page_size=number("GMAIL_PAGE_SIZE", 100),
            full_sync_days=number("GMAIL_FULL_SYNC_DAYS", 3),
            full_sync_margin_hours=number("GMAIL_FULL_SYNC_MARGIN_HOURS", 24),
            max_messages_per_run=number("GMAIL_MAX_MESSAGES_PER_RUN", 500),
            max_seconds_per_run=number("GMAIL_MAX_SECONDS_PER_RUN", 60),
            max_message_bytes=number("GMAIL_MAX_MESSAGE_BYTES", 5_000_000),
            max_attempts=number("GMAIL_MAX_ATTEMPTS", 3),
        )


@dataclass(frozen=True)
class ShopifyAdminSettings:
    """Where and how to call one shop's Admin API (reconciliation, backfill)."""

    shop: str
    url: str
    token: str
    api_version: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ShopifyAdminSettings:
        shop = _required(env, "SHOPIFY_SHOP_DOMAIN").lower()
        return cls(
            shop=shop,
            url=_admin_url(env, shop),
            token=_required(env, "SHOPIFY_ADMIN_TOKEN"),
            api_version=_api_version(env),
        )


@dataclass(frozen=True)
class ReconcileSettings:
    """What ``shopify_reconcile`` needs."""

    project: str
    topic: str
    dataset: str
    bigquery_endpoint: str | None
    admin: ShopifyAdminSettings
    firestore_prefix: str
    #: Every shop reconciled, each with its own token and URL (``admin_shops``); a run
    #: without a shop named goes through all of them.
    shops: Mapping[str, ShopifyAdminSettings] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ReconcileSettings:
        shops = admin_shops(env)
        default = env.get("SHOPIFY_SHOP_DOMAIN", "").strip().lower()
        return cls(
            project=project_id(env),
            topic=env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC),
            dataset=_required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            admin=shops.get(default) or next(iter(shops.values())),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            shops=shops,
        )


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
    #: Orders created (or cancelled) longer ago than this are recorded, not announced.
    max_age_hours: float = 24.0
    #: The shop's mailbox that e-mails a manager whose Messenger window closed; empty: off.
    fallback_from: str = ""
    #: The shop's Gmail OAuth client and refresh token (with gmail.send), for the fallback.
    gmail_client_id: str | None = None
    gmail_client_secret: str | None = None
    gmail_refresh_token: str | None = None
    gmail_api_url: str | None = None  # the local stand-in

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
        refresh = env.get("GMAIL_REFRESH_TOKEN", "").strip()
        gmail_api_url = env.get("GMAIL_API_URL", "").strip() or None
        if fallback_from and not (refresh or gmail_api_url):
            raise ConfigError("NOTIFY_FALLBACK_FROM needs GMAIL_REFRESH_TOKEN (with gmail.send)")
        # No tag by default: Meta allows tags only for updates personally relevant to the
        # recipient, which alerts to the shop's own managers are not.
        tag = env.get("MANYCHAT_MESSAGE_TAG", "").strip().upper()
        return cls(
            project=project_id(env),
            dataset=_required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            manychat_api_url=env.get("MANYCHAT_API_URL", "").strip() or "https://api.manychat.com",
            manychat_token=_required(env, "MANYCHAT_TOKEN"),
            message_tag=tag if tag not in ("", "NONE") else None,
            managers_fallback=env.get("NOTIFY_MANAGERS", ""),
            order_url=env.get("NOTIFY_ORDER_URL", "").strip(),
            lease_seconds=int(number("NOTIFY_LEASE_SECONDS", "60")),
            max_attempts=int(number("NOTIFY_MAX_ATTEMPTS", "8")),
            rate_per_second=number("MANYCHAT_RATE_PER_SECOND", "25"),
            managers_database=managers_database(env),
            max_age_hours=number("NOTIFY_MAX_AGE_HOURS", "24"),
            fallback_from=fallback_from,
            gmail_client_id=env.get("GMAIL_CLIENT_ID", "").strip() or None,
            gmail_client_secret=env.get("GMAIL_CLIENT_SECRET", "").strip() or None,
            gmail_refresh_token=refresh or None,
            gmail_api_url=gmail_api_url,
        )


@dataclass(frozen=True)
class PrivacySettings:
    """What ``privacy_erase`` (and ``scripts/privacy_export``) need."""

    project: str
    dataset: str
    bigquery_endpoint: str | None
    firestore_prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> PrivacySettings:
        return cls(
            project=project_id(env),
            dataset=_required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
        )


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ChatbotSettings:
        secret = _required(env, "CHATBOT_SECRET")
        if len(secret) < 16:
            raise ConfigError("CHATBOT_SECRET must be at least 16 characters")
        header = env.get("CHATBOT_SECRET_HEADER", "").strip() or "X-OrderHub-Secret"
        country = env.get("CHATBOT_DEFAULT_COUNTRY", "US").strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise ConfigError("CHATBOT_DEFAULT_COUNTRY must be a two-letter region, e.g. US")
        currency = env.get("CHATBOT_CURRENCY", "USD").strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ConfigError("CHATBOT_CURRENCY must be a three-letter code, e.g. USD")
        shop = _required(env, "SHOPIFY_SHOP_DOMAIN").lower()
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
            dataset=_required(env, "BIGQUERY_DATASET"),
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
        )


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
    #: Where orders keyed by something else than a shop (a mailbox) go: SHOPIFY_SHOP_DOMAIN.
    default_shop: str | None = None

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
        def shop_map(name: str) -> dict[str, str]:
            raw = env.get(name, "").strip()
            if not raw:
                return {}
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f'{name} must be JSON: {{"shop.myshopify.com": "..."}}') from exc
            if not isinstance(value, dict):
                raise ConfigError(f"{name} must map each shop domain to a value")
            return {str(k).lower(): str(v) for k, v in value.items() if v}

        tokens = shop_map("SHOPIFY_ADMIN_TOKENS")
        urls = shop_map("SHOPIFY_ADMIN_URLS")
        single = env.get("SHOPIFY_SHOP_DOMAIN", "").strip().lower()
        if single and env.get("SHOPIFY_ADMIN_TOKEN", "").strip():
            tokens.setdefault(single, env["SHOPIFY_ADMIN_TOKEN"].strip())
        if single and env.get("SHOPIFY_ADMIN_URL", "").strip():
            urls.setdefault(single, _admin_url(env, single))
        if not tokens:
            raise ConfigError(
                "environment variable SHOPIFY_ADMIN_TOKENS (or SHOPIFY_ADMIN_TOKEN with"
                " SHOPIFY_SHOP_DOMAIN) is required but not set"
            )
        try:
            lease = float(env.get("SHOPIFY_SYNC_LEASE_SECONDS", "").strip() or "120")
        except ValueError as exc:
            raise ConfigError("SHOPIFY_SYNC_LEASE_SECONDS must be a number") from exc
        return cls(
            project=project_id(env),
            topic=env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC),
            dataset=_required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            tokens=tokens,
            urls=urls,
            api_version=_api_version(env),
            lease_seconds=max(1.0, lease),
            default_shop=single or None,
        )


def settings_cache_seconds(env: Mapping[str, str] = os.environ) -> float:
    """How long a hot path (the webhook, reconciliation) keeps a shop's ``sync_settings``
    document: ``SYNC_SETTINGS_CACHE_SECONDS``, 30 by default, 0 to read it every time."""
    raw = env.get("SYNC_SETTINGS_CACHE_SECONDS", "").strip()
    try:
        value = float(raw) if raw else 30.0
    except ValueError as exc:
        raise ConfigError(f"SYNC_SETTINGS_CACHE_SECONDS must be a number, got {raw!r}") from exc
    return max(0.0, value)


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
        urls.setdefault(single, _admin_url(env, single))
    if not tokens:
        raise ConfigError(
            "environment variable SHOPIFY_ADMIN_TOKENS (or SHOPIFY_ADMIN_TOKEN with"
            " SHOPIFY_SHOP_DOMAIN) is required but not set"
        )
    version = _api_version(env)
    return {
        shop: ShopifyAdminSettings(
            shop=shop, url=urls.get(shop) or f"https://{shop}", token=token, api_version=version
        )
        for shop, token in tokens.items()
    }
