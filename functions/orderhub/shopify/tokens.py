"""Admin API access tokens, the way Shopify issues them now (one provider per shop).

* ``ClientCredentials`` (the default): a Dev Dashboard app on a shop its own organisation
  owns. ``POST https://{shop}/admin/oauth/access_token`` with
  ``grant_type=client_credentials``, ``client_id``, ``client_secret`` answers
  ``access_token``, ``scope`` and ``expires_in`` (86,399 s), no refresh token. The token is
  fetched on first use, kept for the instance, fetched again ``refresh_before`` seconds
  (less a per-instance jitter) before it expires, and once more when Shopify answers 401.
  One fetch at a time per instance (a lock; callers that waited reuse its result), so a
  burst of requests or of 401s costs one call to the token endpoint; each instance fetches
  about once a day, at a jittered time, so instances do not stampede it.
* ``StaticToken``: a legacy "Develop apps" ``shpat_`` token, which never expires.

Token values are never logged or put in an error message.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from orderhub.errors import ConfigError, TransientError

TOKEN_PATH = "/admin/oauth/access_token"  # noqa: S105 (a path, not a secret)


class TokenSource(Protocol):
    def token(self) -> str:
        """A token to send now (fetched or refreshed if needed)."""
        ...

    def rejected(self, token: str) -> bool:
        """Shopify answered 401 to ``token``: forget it. True when a new token may help
        (the caller retries once), False when there is nothing to refresh."""
        ...


@dataclass
class StaticToken:
    value: str

    def token(self) -> str:
        return self.value

    def rejected(self, token: str) -> bool:
        return False


def post_token(session: Any, url: str, form: dict[str, str], timeout: float) -> dict[str, Any]:
    """POST a grant to Shopify's token endpoint (form-encoded); its JSON answer."""
    import requests

    try:
        response = session.post(
            url, data=form, headers={"Accept": "application/json"}, timeout=timeout
        )
    except requests.RequestException as exc:
        raise TransientError(f"Shopify token endpoint unreachable: {type(exc).__name__}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(f"Shopify token endpoint answered {response.status_code}")
    if response.status_code != 200:
        raise ConfigError(
            f"Shopify token endpoint refused the {form.get('grant_type')} grant"
            f" ({response.status_code}): check the app's client id and secret, and that the"
            " app is installed on the shop"
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientError("Shopify token endpoint answered with something not JSON") from exc
    if not isinstance(body, dict) or not body.get("access_token"):
        raise TransientError("Shopify token endpoint answered without an access token")
    return body


@dataclass
class ClientCredentials:
    """A Dev Dashboard app's client-credentials token for one shop."""

    token_url: str  # https://{shop}/admin/oauth/access_token (or the stand-in's)
    client_id: str
    client_secret: str = field(repr=False)
    session: Any = None
    clock: Callable[[], float] = time.monotonic
    #: Fetch a new token this long before the current one expires (plus up to 20% jitter).
    refresh_before: float = 300.0
    timeout: float = 10.0
    fetches: int = 0  # calls to the token endpoint, for tests and logs
    scope: str = ""
    _value: str | None = field(default=None, repr=False)
    _renew_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def token(self) -> str:
        value = self._value
        if value is not None and self.clock() < self._renew_at:
            return value
        with self._lock:  # one fetch at a time; who waited uses its result
            if self._value is not None and self.clock() < self._renew_at:
                return self._value
            return self._fetch()

    def rejected(self, token: str) -> bool:
        with self._lock:
            if self._value == token:
                self._value = None  # the next token() fetches; later 401s of it do not
        return True

    def _fetch(self) -> str:
        if self.session is None:
            import requests

            self.session = requests.Session()
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        started = self.clock()
        body = post_token(self.session, self.token_url, form, self.timeout)
        self.fetches += 1
        lifetime = float(body.get("expires_in") or 0) or 86_399.0
        margin = min(self.refresh_before, lifetime / 2) * (1 + 0.2 * random.random())  # noqa: S311 (jitter)
        self._renew_at = started + max(lifetime - margin, 0.0)
        self.scope = str(body.get("scope") or "")
        self._value = str(body["access_token"])
        return self._value


def token_url(admin_base_url: str) -> str:
    return admin_base_url.rstrip("/") + TOKEN_PATH
