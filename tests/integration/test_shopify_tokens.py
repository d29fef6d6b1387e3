"""Admin API tokens as Shopify issues them now: the stand-in's token endpoint, and our
client-credentials provider refreshing across expiry without losing a write."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from orderhub.errors import ConfigError
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.tokens import ClientCredentials, StaticToken, token_url
from tests.conftest import ROOT, clear_caches, unique

SHOP = "tokens-test.myshopify.com"
CLIENT_ID, SECRET = "demo-client-id", "demo-client-secret-0123456789"
QUERY = "query { productVariants(first: 1) { nodes { id } } }"


@pytest.fixture
def standin() -> Iterator[Any]:
    from devstack.standins.shopify_admin import ShopifyAdminStandIn

    server = ShopifyAdminStandIn(
        token="shpat_legacy", shop=SHOP, client_id=CLIENT_ID, client_secret=SECRET
    ).start()
    yield server
    server.stop()


def test_client_credentials_give_an_expiring_token_and_a_wrong_secret_gets_none(
    standin: Any,
) -> None:
    url = token_url(standin.url)
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}
    answer = requests.post(url, data=form, timeout=5)
    body = answer.json()
    assert answer.status_code == 200 and body["expires_in"] == 86_399
    assert body["access_token"] and "refresh_token" not in body and body["scope"]
    wrong = requests.post(url, data={**form, "client_secret": "nope"}, timeout=5)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"
    with pytest.raises(ConfigError, match="client id and secret"):
        ClientCredentials(url, CLIENT_ID, "nope").token()


def test_a_made_up_token_is_refused_and_a_legacy_token_still_works(standin: Any) -> None:
    made_up = ShopifyAdmin(
        base_url=standin.url, tokens=StaticToken("shpca_made_up"), session=requests.Session()
    )
    with pytest.raises(ConfigError):
        made_up.graphql(QUERY)
    legacy = ShopifyAdmin(
        base_url=standin.url, access_token="shpat_legacy", session=requests.Session()
    )
    assert legacy.graphql(QUERY) == {"productVariants": {"nodes": []}}
    assert legacy.answered_version == "2026-10"


def test_an_expired_token_is_fetched_again_once_on_401(standin: Any) -> None:
    standin.oauth.ttl = 1.0
    tokens = ClientCredentials(token_url(standin.url), CLIENT_ID, SECRET, refresh_before=0)
    admin = ShopifyAdmin(base_url=standin.url, tokens=tokens, session=requests.Session())
    admin.graphql(QUERY)
    time.sleep(1.3)  # the token expired; the provider does not know it yet
    admin.graphql(QUERY)  # 401, a new token, the same request again
    assert tokens.fetches == 2


def test_a_token_is_renewed_before_it_expires(standin: Any) -> None:
    standin.oauth.ttl = 2.0
    tokens = ClientCredentials(token_url(standin.url), CLIENT_ID, SECRET)
    admin = ShopifyAdmin(base_url=standin.url, tokens=tokens, session=requests.Session())
    admin.graphql(QUERY)
    first = tokens.token()
    time.sleep(1.3)  # within the last ~half of its life: renewed before Shopify says 401
    admin.graphql(QUERY)
    assert tokens.token() != first and tokens.fetches == 2
    assert standin.oauth.counts()["refused"] == 0


def test_many_threads_at_once_fetch_one_token(standin: Any) -> None:
    tokens = ClientCredentials(token_url(standin.url), CLIENT_ID, SECRET)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(tokens.token())) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(got)) == 1 and tokens.fetches == 1
    assert standin.oauth.counts()["issued"]["client_credentials"] == 1


# --------------------------------------------------- the sync across an expiring token
@pytest.fixture
def sync_env(emulators: dict[str, str], crm: Any, topic: Any) -> Iterator[Any]:
    from functions_framework import create_app

    from devstack.standins.shopify_admin import ShopifyAdminStandIn
    from tests.integration.test_shopify_sync import Env, seed_products

    standin = ShopifyAdminStandIn(
        token="unused", shop=SHOP, client_id=CLIENT_ID, client_secret=SECRET, token_ttl=2.0
    ).start()
    seed_products(standin)
    os.environ.update(
        FIRESTORE_PREFIX=unique("tok") + "-",
        ORDER_EVENTS_TOPIC=topic.name,
        SHOPIFY_CLIENT_ID=CLIENT_ID,
        SHOPIFY_CLIENT_SECRET=SECRET,
        SHOPIFY_SHOP_DOMAIN=SHOP,
        SHOPIFY_ADMIN_URLS=json.dumps({SHOP: standin.url}),
        SHOPIFY_SYNC_LEASE_SECONDS="30",
    )
    for name in ("SHOPIFY_ADMIN_TOKEN", "SHOPIFY_ADMIN_TOKENS", "SHOPIFY_ADMIN_URL"):
        os.environ.pop(name, None)
    clear_caches()
    app = create_app(target="shopify_sync", source="functions/main.py", signature_type="cloudevent")
    env = Env(app.test_client(), crm, topic, {SHOP: standin})
    env.switches(SHOP, **{f"outbound.{e}": "on" for e in ("orders", "customers", "consent")})
    yield env
    standin.stop()


def test_the_sync_refreshes_an_expired_token_and_loses_no_order(sync_env: Any) -> None:
    from tests.integration.test_shopify_sync import form_order

    first, second = form_order(SHOP), form_order(SHOP, phone="+351912345679", email="b@example.com")
    assert sync_env.post(first) == 200
    time.sleep(2.5)  # the first token has expired
    assert sync_env.post(second) == 200
    orders = sync_env.orders(SHOP)
    assert {o["source_identifier"] for o in orders} == {
        f"orderhub:manual:{first['entity_id']}",
        f"orderhub:manual:{second['entity_id']}",
    }
    counts = sync_env.standins[SHOP].oauth.counts()
    assert counts["issued"]["client_credentials"] >= 2 and counts["refused"] == 0


# ---------------------------------------------- a reconcile run across an expiring token
@pytest.fixture
def reconcile_env(emulators: dict[str, str], crm: Any, topic: Any) -> Iterator[Any]:
    from devstack.standins.shopify_admin import ShopifyAdminStandIn

    standin = ShopifyAdminStandIn(
        token="unused", shop=SHOP, client_id=CLIENT_ID, client_secret=SECRET, token_ttl=2.0
    ).start()
    os.environ.update(
        FIRESTORE_PREFIX=unique("tokrec") + "-",
        ORDER_EVENTS_TOPIC=topic.name,
        SHOPIFY_CLIENT_ID=CLIENT_ID,
        SHOPIFY_CLIENT_SECRET=SECRET,
        SHOPIFY_SHOP_DOMAIN=SHOP,
        SHOPIFY_ADMIN_URLS=json.dumps({SHOP: standin.url}),
        SYNC_SETTINGS_CACHE_SECONDS="0",
    )
    for name in ("SHOPIFY_ADMIN_TOKEN", "SHOPIFY_ADMIN_TOKENS", "SHOPIFY_ADMIN_URL"):
        os.environ.pop(name, None)
    clear_caches()
    yield standin
    standin.stop()


@pytest.mark.parametrize("expiry", ["lifetime", "early"])
def test_a_reconcile_run_refreshes_an_expiring_token_and_misses_no_order(
    reconcile_env: Any, topic: Any, expiry: str
) -> None:
    """Three pages of orders (seven a page); while the second is answered the token runs
    out: its whole two-second lifetime passes ("lifetime": the provider renews it before
    the next page), or Shopify expires it before the provider expects ("early": the next
    page is answered 401, the provider fetches a new token and the page is asked again)."""
    from functions_framework import create_app

    from orderhub.event import decode
    from tests.integration.test_inbound_switches import recent_order

    standin = reconcile_env
    orders = [recent_order() for _ in range(17)]
    for order in orders:
        standin.shop.put_order(order)
    answer_orders = standin.shop.field
    pages: list[int] = []

    def slow_second_page(name: str, args: dict[str, Any]) -> Any:
        value = answer_orders(name, args)
        if name == "orders":
            pages.append(1)
            if len(pages) == 2:
                if expiry == "lifetime":
                    time.sleep(2.2)
                else:
                    standin.oauth.expire_all()
        return value

    standin.shop.field = slow_second_page
    client = create_app(
        "shopify_reconcile", str(ROOT / "functions" / "main.py"), "http"
    ).test_client()
    run = client.post("/")
    assert run.status_code == 200, run.get_data(as_text=True)
    assert len(pages) >= 3
    published = {
        event["entity_id"]
        for event in (decode(m.data) for m in topic.pull(expect=100, timeout=3.0))
        if event["entity_type"] == "order"
    }
    assert published == {str(order["id"]) for order in orders}
    counts = standin.oauth.counts()
    assert counts["issued"]["client_credentials"] >= 2
