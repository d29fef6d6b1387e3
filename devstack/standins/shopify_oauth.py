"""The stand-in's token endpoint: ``POST /admin/oauth/access_token``, as Shopify answers it.

* ``grant_type=client_credentials`` with the app's ``client_id`` and ``client_secret``:
  ``{access_token, scope, expires_in}``, no refresh token (a Dev Dashboard app on a shop of
  its own organisation).
* ``grant_type=refresh_token`` with ``refresh_token``: an expiring offline token's renewal;
  the refresh token is replaced on every use, and a used one is refused.
* ``grant_type=authorization_code`` (no grant_type, ``code``): the install flow's exchange,
  with ``expiring=1`` an expiring offline token and its refresh token.

A wrong client id or secret is refused (400 ``invalid_client``: assumed shape, Shopify
documents the refusal, not its body). Issued tokens expire after ``ttl`` seconds; an
expired or made-up token gets the Admin API's 401.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

TOKEN_PATH = "/admin/oauth/access_token"  # noqa: S105 (a path, not a secret)
SCOPES = (
    "write_orders,read_orders,write_order_edits,write_customers,read_customers,read_products,"
    "write_draft_orders"
)
REFRESH_TTL = 90 * 86_400.0
AUTHORIZE_PATH = "/admin/oauth/authorize"


def query_hmac(secret: str, params: dict[str, str]) -> str:
    """Shopify's ``hmac`` of an OAuth redirect: every other parameter, sorted, joined as
    ``k=v`` with ``&``, HMAC-SHA256 with the app's client secret, hex."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class OAuth:
    def __init__(
        self,
        client_id: str | None,
        client_secret: str | None,
        ttl: float = 86_399.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id, self.client_secret, self.ttl, self.clock = (
            client_id,
            client_secret,
            ttl,
            clock,
        )
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token → expires at
        self._refresh: dict[str, bool] = {}  # refresh token → still usable
        self.codes: dict[str, str] = {}  # authorization code → scope (the install flow)
        self.issued = {"client_credentials": 0, "refresh_token": 0, "authorization_code": 0}
        self.refused = 0

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {"issued": dict(self.issued), "refused": self.refused, "ttl": self.ttl}

    def valid(self, token: str) -> bool:
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and self.clock() < expires

    def authorize(self, path: str, shop: str) -> tuple[int, str]:
        """``GET /admin/oauth/authorize?client_id&scope&redirect_uri&state``, approved by
        the merchant at once: (302, the redirect URI with ``code``, ``hmac``, ``shop``,
        ``state``, ``timestamp``), or (400, why)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        if not self.client_secret or query.get("client_id") != self.client_id:
            return 400, "Oauth error invalid_request: The client_id is invalid"
        if not query.get("redirect_uri") or not query.get("state"):
            return 400, "Oauth error invalid_request: redirect_uri and state are required"
        params = {
            "code": self.issue_code(query.get("scope") or SCOPES),
            "host": "c3RhbmQtaW4",
            "shop": shop,
            "state": query["state"],
            "timestamp": str(int(self.clock())),
        }
        params["hmac"] = query_hmac(self.client_secret, params)
        return 302, f"{query['redirect_uri']}?{urlencode(params)}"

    def expire_all(self) -> None:
        """Every access token issued so far expires now (as Shopify may, before its
        ``expires_in`` by the caller's clock)."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    def issue_code(self, scope: str = SCOPES) -> str:
        code = secrets.token_hex(16)
        with self._lock:
            self.codes[code] = scope
        return code

    def _refuse(self, status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.refused += 1
        return status, {"error": error, "error_description": description}

    def grant(self, raw: bytes, content_type: str | None) -> tuple[int, dict[str, Any]]:
        if (content_type or "").startswith("application/json"):
            try:
                form = {k: str(v) for k, v in json.loads(raw or b"{}").items()}
            except (ValueError, AttributeError):
                return self._refuse(400, "invalid_request", "body is not JSON")
        else:
            form = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
        if not self.client_id or not self.client_secret:
            return self._refuse(400, "invalid_client", "no app is configured on this shop")
        if form.get("client_id") != self.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        ):
            return self._refuse(400, "invalid_client", "Client authentication failed")
        grant = form.get("grant_type") or ("authorization_code" if "code" in form else "")
        answer: dict[str, Any] = {"scope": SCOPES}
        with self._lock:
            if grant == "client_credentials":
                pass
            elif grant == "refresh_token":
                if not self._refresh.get(form.get("refresh_token", "")):
                    self.refused += 1
                    return 400, {"error": "invalid_grant", "error_description": "refresh token"}
                self._refresh[form["refresh_token"]] = False  # used once
            elif grant == "authorization_code":
                scope = self.codes.pop(form.get("code", ""), None)
                if scope is None:
                    self.refused += 1
                    return 400, {"error": "invalid_grant", "error_description": "code"}
                answer["scope"] = scope
            else:
                self.refused += 1
                return 400, {"error": "unsupported_grant_type"}
            token = "shpca_" + secrets.token_hex(16)
            self._tokens[token] = self.clock() + self.ttl
            answer["access_token"] = token
            answer["expires_in"] = int(self.ttl) if self.ttl >= 1 else self.ttl
            if grant == "refresh_token" or (
                grant == "authorization_code" and form.get("expiring") == "1"
            ):
                refresh = "shprt_" + secrets.token_hex(16)
                self._refresh[refresh] = True
                answer["refresh_token"] = refresh
                answer["refresh_token_expires_in"] = int(REFRESH_TTL)
            self.issued[grant] += 1
        return 200, answer
