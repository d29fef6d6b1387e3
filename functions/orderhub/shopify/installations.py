"""Shops of other merchants, installed through the authorization-code grant, and their
expiring offline tokens (Firestore, collection ``{prefix}shopify_installations``, one
document per shop).

From 1 January 2027 a public app's offline token lasts an hour and comes with a refresh
token that Shopify replaces on every use (the used one is refused). So:

* ``Installations`` keeps each shop's access token, refresh token (both secrets: never
  logged, never in an error message, never returned by ``status``), their expiry, the
  granted scope and whether the shop is connected (``app/uninstalled`` disconnects it).
* ``RotatingOfflineToken`` is a ``tokens.TokenSource``: it uses the stored access token
  while it is valid and, when it is about to expire (or Shopify answers 401), refreshes it
  under a lease taken in a Firestore transaction, so one instance at a time spends the
  refresh token: a refresh token is used at most once even with many instances. The
  others wait for the lease holder's new token and use it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore

from orderhub import logs
from orderhub.errors import ConfigError, TransientError
from orderhub.shopify.tokens import post_token, token_url

COLLECTION = "shopify_installations"
CONNECTED, DISCONNECTED = "connected", "disconnected"


class Installations:
    """The installed shops and their tokens, in Firestore."""

    def __init__(self, client: Any, prefix: str = "", clock: Callable[[], float] = time.time):
        self.client, self.clock = client, clock
        self._collection = client.collection(f"{prefix}{COLLECTION}")

    def doc(self, shop: str) -> Any:
        return self._collection.document(shop)

    def get(self, shop: str) -> dict[str, Any] | None:
        snapshot = self.doc(shop).get(timeout=10.0)
        return snapshot.to_dict() if snapshot.exists else None

    def save_grant(self, shop: str, answer: dict[str, Any], *, installed: bool = False) -> None:
        """Store a token endpoint's answer (an authorization-code exchange or a refresh)."""
        now = self.clock()
        record: dict[str, Any] = {
            "shop": shop,
            "access_token": str(answer["access_token"]),
            "access_expires_at": now + float(answer.get("expires_in") or 0)
            if answer.get("expires_in")
            else None,  # a non-expiring offline token
            "expires_in": float(answer.get("expires_in") or 0) or None,
            "refresh_token": str(answer.get("refresh_token") or ""),
            "refresh_expires_at": now + float(answer.get("refresh_token_expires_in") or 0),
            "scope": str(answer.get("scope") or ""),
            "lease_until": 0.0,
            "lease_holder": "",
            "updated_at": datetime.now(UTC),
        }
        if installed:
            record.update(status=CONNECTED, installed_at=datetime.now(UTC), uninstalled_at=None)
        self.doc(shop).set(record, merge=True, timeout=10.0)

    def disconnect(self, shop: str, before: datetime | None = None) -> bool:
        """``app/uninstalled``: the shop is disconnected and its tokens forgotten (Shopify
        has revoked them). False when the shop was never installed here, or (``before``,
        when the uninstall happened) was installed again since."""
        ref = self.doc(shop)
        snapshot = ref.get(timeout=10.0)
        if not snapshot.exists:
            return False
        installed_at = (snapshot.to_dict() or {}).get("installed_at")
        if before is not None and isinstance(installed_at, datetime) and installed_at > before:
            return False  # an old uninstall, delivered after the shop was installed again
        ref.set(
            {
                "status": DISCONNECTED,
                "uninstalled_at": datetime.now(UTC),
                "access_token": "",
                "refresh_token": "",
                "access_expires_at": 0.0,
            },
            merge=True,
            timeout=10.0,
        )
        return True

    def status(self) -> list[dict[str, Any]]:
        """Every installed shop with its status and scope (no tokens), for the settings page."""
        shown = ("shop", "status", "scope", "installed_at", "uninstalled_at")
        return sorted(
            ({k: (s.to_dict() or {}).get(k) for k in shown} for s in self._collection.stream()),
            key=lambda row: str(row["shop"]),
        )

    def connected(self, shop: str) -> bool:
        record = self.get(shop)
        return bool(record) and (record or {}).get("status") == CONNECTED

    def take_lease(self, shop: str, holder: str, seconds: float) -> dict[str, Any] | None:
        """Take the shop's refresh lease in a transaction: the record when taken, None when
        another holder's lease is still running."""
        ref = self.doc(shop)
        clock = self.clock

        @firestore.transactional  # type: ignore[misc]
        def take(transaction: Any) -> dict[str, Any] | None:
            snapshot = ref.get(transaction=transaction)
            record = snapshot.to_dict() if snapshot.exists else None
            if record is None:
                return None
            now = clock()
            if float(record.get("lease_until") or 0) > now and record.get("lease_holder") != holder:
                return None
            transaction.update(ref, {"lease_until": now + seconds, "lease_holder": holder})
            return dict(record)

        result: dict[str, Any] | None = take(self.client.transaction())
        return result

    def release(self, shop: str, holder: str) -> None:
        ref = self.doc(shop)

        @firestore.transactional  # type: ignore[misc]
        def release(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            if snapshot.exists and (snapshot.to_dict() or {}).get("lease_holder") == holder:
                transaction.update(ref, {"lease_until": 0.0, "lease_holder": ""})

        release(self.client.transaction())


@dataclass
class RotatingOfflineToken:
    """An authorization-code installation's expiring offline token for one shop."""

    shop: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    installations: Installations = field(repr=False)
    session: Any = None
    #: Refresh this long before the access token expires.
    refresh_before: float = 300.0
    #: How long a refresh may hold the lease (longer than the token endpoint's timeout).
    lease_seconds: float = 30.0
    timeout: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    refreshes: int = 0  # refresh grants this instance spent, for tests and logs
    holder: str = field(default_factory=lambda: secrets.token_hex(8))
    _value: str | None = field(default=None, repr=False)
    _expires_at: float | None = 0.0
    _lifetime: float | None = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _fresh(self, expires_at: float | None, lifetime: float | None) -> bool:
        if expires_at is None:  # a non-expiring token
            return True
        margin = min(self.refresh_before, 0.5 * float(lifetime or 0))
        return self._now() < float(expires_at) - margin

    def _now(self) -> float:
        return self.installations.clock()

    def token(self) -> str:
        value = self._value
        if value is not None and self._fresh(self._expires_at, self._lifetime):
            return value
        with self._lock:
            if self._value is not None and self._fresh(self._expires_at, self._lifetime):
                return self._value
            return self._load_or_refresh(stale=None)

    def rejected(self, token: str) -> bool:
        with self._lock:
            if self._value == token:
                self._value = None
                self._load_or_refresh(stale=token)
        return True

    def _load_or_refresh(self, stale: str | None) -> str:
        """The stored token when it is still good (and not ``stale``, which Shopify just
        refused), else a refreshed one; waits while another instance refreshes."""
        deadline = self._now() + self.lease_seconds + self.timeout
        while True:
            record = self._record()
            good = record.get("access_token") and record["access_token"] != stale
            if good and self._fresh(record.get("access_expires_at"), record.get("expires_in")):
                return self._keep(record)
            leased = self.installations.take_lease(self.shop, self.holder, self.lease_seconds)
            if leased is not None:
                return self._refresh(leased, stale)
            if self._now() > deadline:
                raise TransientError(f"shop {self.shop}: another instance holds the refresh")
            self.sleep(0.2)  # another instance is refreshing: use its token when it is done

    def _record(self) -> dict[str, Any]:
        record = self.installations.get(self.shop)
        if not record or record.get("status") != CONNECTED:
            raise ConfigError(f"shop {self.shop} is not connected: install the app again")
        return record

    def _keep(self, record: dict[str, Any]) -> str:
        self._value = str(record["access_token"])
        self._expires_at = record.get("access_expires_at")
        self._lifetime = record.get("expires_in")
        return self._value

    def _refresh(self, leased: dict[str, Any], stale: str | None) -> str:
        try:
            good = leased.get("access_token") and leased["access_token"] != stale
            if good and self._fresh(leased.get("access_expires_at"), leased.get("expires_in")):
                return self._keep(leased)  # refreshed by the instance that held the lease
            if not leased.get("refresh_token"):
                raise ConfigError(f"shop {self.shop} has no refresh token: install the app again")
            if self.session is None:
                import requests

                self.session = requests.Session()
            form = {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": str(leased["refresh_token"]),
            }
            answer = post_token(self.session, self.token_url, form, self.timeout)
            self.refreshes += 1
            # The used refresh token is gone at Shopify: store its successor before anything
            # else (a few tries; the lease stays ours meanwhile).
            for attempt in range(3):
                try:
                    self.installations.save_grant(self.shop, answer)
                    break
                except Exception:
                    if attempt == 2:
                        logs.error(
                            "refreshed token not stored: reinstall may be needed", shop=self.shop
                        )
                        raise
                    self.sleep(0.5)
            logs.info("shopify token refreshed", shop=self.shop)
            self._value = str(answer["access_token"])
            expires_in = answer.get("expires_in")
            self._expires_at = self._now() + float(expires_in) if expires_in else None
            self._lifetime = float(expires_in) if expires_in else None
            return self._value
        finally:
            self.installations.release(self.shop, self.holder)


def installed_tokens(
    installations: Installations,
    shop: str,
    admin_url: str,
    client_id: str,
    client_secret: str,
    session: Any = None,
) -> RotatingOfflineToken | None:
    """The token source of a shop installed through the install flow (its expiring
    offline token), or None when the shop was never installed here (it uses the app's
    client credentials or a legacy token)."""
    if installations.get(shop) is None:
        return None
    if not client_id or not client_secret:
        raise ConfigError(
            f"shop {shop} is installed: set SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET"
        )
    return RotatingOfflineToken(
        shop=shop,
        token_url=token_url(admin_url),
        client_id=client_id,
        client_secret=client_secret,
        installations=installations,
        session=session,
    )


def disconnected_reason(installations: Installations, shop: str) -> str | None:
    """Why nothing goes to or comes from ``shop`` any more: the merchant uninstalled the
    app (``app/uninstalled``); None for a connected shop or one never installed here."""
    record = installations.get(shop)
    if not record or record.get("status") != DISCONNECTED:
        return None
    when = record.get("uninstalled_at")
    since = f" on {when:%Y-%m-%d %H:%M} UTC" if isinstance(when, datetime) else ""
    return (
        f"shop {shop} is disconnected: the app was uninstalled{since};"
        " connect it again at /settings/shops"
    )
