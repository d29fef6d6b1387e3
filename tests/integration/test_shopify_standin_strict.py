"""The Shopify stand-in refuses what Shopify's published schema refuses, in Shopify's
shape, over HTTP; and the pinned version's support window is watched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from orderhub.shopify import versions
from orderhub.shopify.writer import ORDER_CREATE

TOKEN = "shpat_strict"


@pytest.fixture
def standin() -> Iterator[Any]:
    from devstack.standins.shopify_admin import ShopifyAdminStandIn

    server = ShopifyAdminStandIn(token=TOKEN, shop="strict.myshopify.com").start()
    yield server
    server.stop()


def post(standin: Any, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = requests.post(
        f"{standin.url}/admin/api/2026-10/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": TOKEN},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["X-Shopify-API-Version"] == "2026-10"
    return response.json()


ORDER = {
    "currency": "EUR",
    "lineItems": [
        {
            "title": "Mug",
            "quantity": 1,
            "priceSet": {"shopMoney": {"amount": "5", "currencyCode": "EUR"}},
        }
    ],
}


def test_an_unknown_nested_field_is_refused(standin: Any) -> None:
    body = post(standin, "{ orders(first: 1) { nodes { id sourceIdentifierr } } }")
    [error] = body["errors"]
    assert error["message"] == "Field 'sourceIdentifierr' doesn't exist on type 'Order'"
    assert error["extensions"]["code"] == "undefinedField" and "data" not in body


def test_a_bad_enum_value_and_an_unknown_input_field_are_refused(standin: Any) -> None:
    body = post(
        standin, ORDER_CREATE, {"order": {**ORDER, "financialStatus": "SETTLED", "colour": 1}}
    )
    problems = [p for e in body["errors"] for p in e["extensions"]["problems"]]
    assert {tuple(p["path"]) for p in problems} == {("financialStatus",), ()}
    assert all(e["extensions"]["code"] == "INVALID_VARIABLE" for e in body["errors"])
    assert standin.writes.orders == {}  # nothing created


def test_a_wrong_argument_name_and_a_missing_variable_are_refused(standin: Any) -> None:
    wrong = "mutation m($o: OrderCreateOrderInput!) { orderCreate(input: $o) { order { id } } }"
    codes = {e["extensions"]["code"] for e in post(standin, wrong, {"o": ORDER})["errors"]}
    assert codes == {"argumentNotAccepted", "missingRequiredArguments"}
    [missing] = post(standin, ORDER_CREATE, {})["errors"]
    assert missing["message"].startswith("Variable $order of type OrderCreateOrderInput!")
    assert standin.writes.orders == {}


def test_a_valid_write_still_goes_through(standin: Any) -> None:
    body = post(standin, ORDER_CREATE, {"order": ORDER})
    assert body["data"]["orderCreate"]["userErrors"] == []


def test_the_pinned_version_warns_90_days_before_it_leaves_support() -> None:
    assert versions.support_ends("2026-10") == date(2027, 10, 1)
    assert versions.support_warning("2026-10", date(2026, 12, 1)) is None
    assert "leaves support in 90 days" in str(versions.support_warning("2026-10", date(2027, 7, 3)))
    assert "past support" in str(versions.support_warning("2025-10", date(2026, 12, 1)))
    assert versions.DEFAULT_API_VERSION >= "2026-07"
