"""Connecting another merchant's shop (issue 20): the authorization-code install flow, and
the owner's list of connected shops. Owners only.

* ``GET /shopify/install?shop=`` checks the shop domain (``SHOP_PATTERN``), sets a
  ``state`` nonce (an HttpOnly cookie bound to the shop, ten minutes) and redirects to the
  shop's ``/admin/oauth/authorize`` with the app's client id, the scopes
  (``SHOPIFY_INSTALL_SCOPES``) and this app's callback.
* ``GET /shopify/callback`` checks Shopify's ``hmac`` of the query (the app's client
  secret), the ``state`` against the cookie and the shop, and the domain pattern; then
  exchanges the code for an expiring offline token (``expiring=1``), stores it
  (``orderhub.shopify.installations``, Firestore) and subscribes the shop's webhooks to
  ``SHOPIFY_WEBHOOK_URL`` (``orderhub.shopify.webhooks``, as the operator's script does,
  plus ``app/uninstalled``).
* ``GET /settings/shops`` lists the installed shops: connected or disconnected.

The app is ``SHOPIFY_CLIENT_ID`` / ``SHOPIFY_CLIENT_SECRET``; ``SHOPIFY_ADMIN_URLS`` points
a shop at a stand-in.
"""

from __future__ import annotations

import functools
import hmac
import json
import os
import re
import secrets
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from orderhub import logs
from orderhub.errors import ConfigError
from orderhub.order_form import pages
from orderhub.order_form.auth import _secure, login_required
from orderhub.order_form.wiring import wiring
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.installations import Installations, RotatingOfflineToken
from orderhub.shopify.settings import api_version, client_credentials
from orderhub.shopify.tokens import post_token, token_url
from orderhub.shopify.webhooks import APP_UNINSTALLED, SubscriptionRefused, register

bp = Blueprint("shopify_connect", __name__)

SHOP_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
STATE_COOKIE = "orderhub_shopify_state"
DEFAULT_SCOPES = (
    "read_orders,write_orders,write_order_edits,read_customers,write_customers,read_products"
)


def query_hmac(secret: str, params: dict[str, str]) -> str:
    """Shopify's ``hmac`` of an OAuth redirect: the other parameters sorted, ``k=v`` joined
    with ``&``, HMAC-SHA256 with the client secret, hex."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), "sha256").hexdigest()


@functools.cache
def installations() -> Installations:
    w = wiring()
    return Installations(w.firestore, w.settings.firestore_prefix)


def _app() -> tuple[str, str]:
    client_id, secret = client_credentials(os.environ)
    if not client_id:
        raise ConfigError("set SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET (the app's)")
    return client_id, secret


def shop_url(shop: str) -> str:
    urls = json.loads(os.environ.get("SHOPIFY_ADMIN_URLS", "").strip() or "{}")
    return str(urls.get(shop) or f"https://{shop}").rstrip("/")


def _refuse(text: str, status: int = 400) -> Response:
    logs.warning("shopify install refused", reason=text)
    return pages.message("Shop not connected", text, status, back="/settings/shops")


@bp.get("/shopify/install")
@login_required(owner=True)
def install() -> Response | WerkzeugResponse:
    shop = str(request.args.get("shop") or "").strip().lower()
    if not SHOP_PATTERN.fullmatch(shop):
        return _refuse("Give the shop's address as your-shop.myshopify.com.")
    client_id, _ = _app()
    nonce = secrets.token_urlsafe(24)
    query = {
        "client_id": client_id,
        "scope": os.environ.get("SHOPIFY_INSTALL_SCOPES", "").strip() or DEFAULT_SCOPES,
        "redirect_uri": url_for("shopify_connect.callback", _external=True),
        "state": nonce,
    }
    response = redirect(f"{shop_url(shop)}/admin/oauth/authorize?{urlencode(query)}", 302)
    response.set_cookie(
        STATE_COOKIE,
        f"{nonce} {shop}",
        max_age=600,
        path=pages.base() or "/",
        secure=_secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.get("/shopify/callback")
@login_required(owner=True)
def callback() -> Response:
    params = {k: str(v) for k, v in request.args.items()}
    shop = params.get("shop", "").lower()
    client_id, secret = _app()
    if not hmac.compare_digest(query_hmac(secret, params), params.get("hmac", "")):
        return _refuse("Shopify's signature of this answer does not match.", 403)
    if not SHOP_PATTERN.fullmatch(shop):
        return _refuse("That is not a Shopify shop's address.")
    nonce, _, state_shop = str(request.cookies.get(STATE_COOKIE) or "").partition(" ")
    state = params.get("state", "")
    if not nonce or not hmac.compare_digest(nonce, state) or state_shop != shop:
        return _refuse("This answer is not for the install started here: start again.", 403)
    form = {"client_id": client_id, "client_secret": secret, "code": params.get("code", "")}
    form["expiring"] = "1"
    import requests

    session = requests.Session()
    answer = post_token(session, token_url(shop_url(shop)), form, 10.0)
    installations().save_grant(shop, answer, installed=True)
    tokens = RotatingOfflineToken(
        shop=shop,
        token_url=token_url(shop_url(shop)),
        client_id=client_id,
        client_secret=secret,
        installations=installations(),
        session=session,
    )
    admin = ShopifyAdmin(
        base_url=shop_url(shop),
        tokens=tokens,
        api_version=api_version(os.environ),
        session=session,
    )
    webhook_url = os.environ.get("SHOPIFY_WEBHOOK_URL", "").strip()
    if not webhook_url:
        raise ConfigError("set SHOPIFY_WEBHOOK_URL: where the shop's webhooks go")
    try:
        created = register(admin.graphql, webhook_url, extra=(APP_UNINSTALLED,))
    except SubscriptionRefused as exc:
        return _refuse(f"Connected, but Shopify refused a webhook: {exc}", 502)
    logs.info("shopify shop connected", shop=shop, webhooks=len(created))
    response = pages.redirect("/settings/shops")
    response.delete_cookie(STATE_COOKIE, path=pages.base() or "/")
    return response


@bp.get("/settings/shops")
@login_required(owner=True)
def shops() -> Response:
    return pages.page("shops.html", shops=installations().status())
