"""An authorization-code installation's expiring offline token (issue 20): the rotating
refresh token lives in Firestore (the emulator), is refreshed under a lease taken in a
transaction, and is spent at most once even when two instances need a new token at once;
no token reaches the logs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.cloud import firestore

from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.installations import Installations, RotatingOfflineToken
from orderhub.shopify.tokens import token_url
from tests.conftest import unique

SHOP = "merchant-two.myshopify.com"
CLIENT_ID, SECRET = "public-app-id", "public-app-secret-0123456789"
QUERY = "query { productVariants(first: 1) { nodes { id } } }"


@pytest.fixture
def installed(emulators: dict[str, str]) -> Iterator[tuple[Any, str]]:
    """The stand-in shop with our app installed (a code exchanged for an expiring offline
    token, stored), and the Firestore prefix it is stored under."""
    from devstack.standins.shopify_admin import ShopifyAdminStandIn

    standin = ShopifyAdminStandIn(
        token="unused", shop=SHOP, client_id=CLIENT_ID, client_secret=SECRET, token_ttl=4.0
    ).start()
    prefix = unique("inst") + "-"
    form = {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "code": standin.oauth.issue_code(),
        "expiring": "1",
    }
    answer = requests.post(token_url(standin.url), data=form, timeout=5).json()
    assert answer["refresh_token"] and answer["expires_in"] == 4
    installations(prefix).save_grant(SHOP, answer, installed=True)
    yield standin, prefix
    standin.stop()


def installations(prefix: str) -> Installations:
    """One instance's view of the installations (its own Firestore client)."""
    return Installations(firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"]), prefix)


def provider(standin: Any, prefix: str) -> RotatingOfflineToken:
    return RotatingOfflineToken(
        shop=SHOP,
        token_url=token_url(standin.url),
        client_id=CLIENT_ID,
        client_secret=SECRET,
        installations=installations(prefix),
        refresh_before=0.5,
    )


def test_two_instances_refresh_an_expired_token_with_one_use_of_the_refresh_token(
    installed: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    standin, prefix = installed
    first = installations(prefix).get(SHOP) or {}
    a, b = provider(standin, prefix), provider(standin, prefix)
    assert a.token() == b.token() == first["access_token"]  # stored, still good: no refresh
    time.sleep(3.6)  # within half a second of its end: the hour-long token's stand-in

    got: list[str] = []
    barrier = threading.Barrier(6)

    def use(p: RotatingOfflineToken) -> None:
        barrier.wait()
        got.append(p.token())

    threads = [threading.Thread(target=use, args=(p,)) for p in (a, b, a, b, a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = standin.oauth.counts()
    assert counts["issued"]["refresh_token"] == 1 and counts["refused"] == 0
    assert a.refreshes + b.refreshes == 1
    assert len(set(got)) == 1 and got[0] != first["access_token"]
    stored = installations(prefix).get(SHOP) or {}
    assert stored["access_token"] == got[0]
    assert stored["refresh_token"] not in ("", first["refresh_token"])  # rotated
    assert stored["lease_holder"] == ""

    time.sleep(3.6)  # and again, with the rotated refresh token
    admin = ShopifyAdmin(base_url=standin.url, tokens=b, session=requests.Session())
    assert admin.graphql(QUERY) == {"productVariants": {"nodes": []}}
    assert standin.oauth.counts()["issued"]["refresh_token"] == 2
    assert standin.oauth.counts()["refused"] == 0

    out = capsys.readouterr()
    for secret in (first["refresh_token"], stored["refresh_token"], got[0], SECRET):
        assert secret not in out.out + out.err
    assert stored["refresh_token"] not in repr(a) and SECRET not in repr(a)


def test_a_token_shopify_expires_early_is_refreshed_on_401_once(
    installed: tuple[Any, str],
) -> None:
    standin, prefix = installed
    tokens = provider(standin, prefix)
    admin = ShopifyAdmin(base_url=standin.url, tokens=tokens, session=requests.Session())
    admin.graphql(QUERY)
    standin.oauth.expire_all()  # Shopify says 401 before the stored expiry
    assert admin.graphql(QUERY) == {"productVariants": {"nodes": []}}
    assert standin.oauth.counts()["issued"]["refresh_token"] == 1
    # another instance, which still had the refused token, uses the new one as is
    other = provider(standin, prefix)
    assert other.token() == tokens.token()
    assert standin.oauth.counts()["issued"]["refresh_token"] == 1


def test_a_disconnected_shop_gets_no_token(installed: tuple[Any, str]) -> None:
    from orderhub.errors import ConfigError

    standin, prefix = installed
    assert installations(prefix).disconnect(SHOP)
    with pytest.raises(ConfigError, match="not connected"):
        provider(standin, prefix).token()
    rows = installations(prefix).status()
    assert rows == [{**rows[0], "shop": SHOP, "status": "disconnected"}]
    assert "access_token" not in rows[0] and "refresh_token" not in rows[0]
