"""Issue 20: another merchant's shop connects through the CRM app's install flow, on the
stand-in (its authorize endpoint approves at once): the callback's HMAC, state and shop
domain are checked, the code is exchanged for an expiring offline token, stored in
Firestore, and the shop's webhooks (with app/uninstalled) are subscribed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.integration.test_crmapp import App, app  # noqa: F401 (the fixture)

SHOP2 = "second-merchant.myshopify.com"
CLIENT_ID, SECRET = "public-app-id", "public-app-secret-0123456789"
WEBHOOK_URL = "https://webhooks.example/shopify"


@pytest.fixture
def shop2(app: App) -> Iterator[Any]:  # noqa: F811
    import json

    from devstack.standins.shopify_admin import ShopifyAdminStandIn
    from orderhub.order_form import shopify_connect

    standin = ShopifyAdminStandIn(
        token="unused", shop=SHOP2, client_id=CLIENT_ID, client_secret=SECRET
    ).start()
    os.environ.update(
        SHOPIFY_CLIENT_ID=CLIENT_ID,
        SHOPIFY_CLIENT_SECRET=SECRET,
        SHOPIFY_ADMIN_URLS=json.dumps({SHOP2: standin.url}),
        SHOPIFY_WEBHOOK_URL=WEBHOOK_URL,
    )
    shopify_connect.installations.cache_clear()
    yield standin
    standin.stop()
    for name in ("SHOPIFY_CLIENT_ID", "SHOPIFY_CLIENT_SECRET", "SHOPIFY_ADMIN_URLS"):
        os.environ.pop(name, None)


def approve(app: App, shop: str = SHOP2) -> str:  # noqa: F811
    """Start the install and let the stand-in's merchant approve: the callback's path."""
    start = app.client.get(f"/shopify/install?shop={shop}")
    assert start.status_code == 302, start.get_data(as_text=True)
    approved = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    assert back.path == "/shopify/callback"
    return f"{back.path}?{back.query}"


def test_a_second_shop_connects_through_the_install_flow(app: App, shop2: Any) -> None:  # noqa: F811
    from orderhub.order_form import shopify_connect

    app.sign_in("olga")
    done = app.client.get(approve(app))
    assert done.status_code == 303, done.get_data(as_text=True)
    record = shopify_connect.installations().get(SHOP2) or {}
    assert record["status"] == "connected" and record["refresh_token"].startswith("shprt_")
    assert shop2.oauth.counts()["issued"]["authorization_code"] == 1
    topics = {s["topic"] for s in shop2.subscriptions if s["uri"] == WEBHOOK_URL}
    assert {"APP_UNINSTALLED", "ORDERS_CREATE", "ORDERS_UPDATED"} <= topics
    page = app.client.get("/settings/shops").get_data(as_text=True)
    assert SHOP2 in page and "connected" in page and "shprt_" not in page
    assert app.client.get(approve(app)).status_code == 303  # installing again is harmless
    assert len(shop2.subscriptions) == len(topics)  # registered once


def test_the_callback_refuses_a_forged_signature_a_wrong_state_and_a_bad_shop(
    app: App,  # noqa: F811
    shop2: Any,
) -> None:
    from orderhub.order_form import shopify_connect

    app.sign_in("olga")
    path = approve(app)
    params = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    forged = {**params, "code": "made-up"}
    assert app.client.get(f"/shopify/callback?{urlencode(forged)}").status_code == 403
    other = {**params, "state": "not-ours"}
    other["hmac"] = shopify_connect.query_hmac(SECRET, other)
    assert app.client.get(f"/shopify/callback?{urlencode(other)}").status_code == 403
    evil = {**params, "shop": "evil.example.com"}
    evil["hmac"] = shopify_connect.query_hmac(SECRET, evil)
    assert app.client.get(f"/shopify/callback?{urlencode(evil)}").status_code == 400
    assert app.client.get("/shopify/install?shop=evil.com%2F..").status_code == 400
    assert shopify_connect.installations().get(SHOP2) is None
    assert shop2.oauth.counts()["issued"]["authorization_code"] == 0
    app.client.get("/signout")


def test_a_manager_who_is_not_the_owner_cannot_connect_a_shop(app: App, shop2: Any) -> None:  # noqa: F811
    app.sign_in("anna")
    assert app.client.get(f"/shopify/install?shop={SHOP2}").status_code == 403
