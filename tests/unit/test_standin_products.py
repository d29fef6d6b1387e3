"""The Shopify stand-in refuses product and stock writes as Shopify does (issue 24), so a
test cannot pass on something Shopify would refuse."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.standins.shopify_admin import ShopifyAdminStandIn
from orderhub.shopify import writer

SET = writer.PRODUCT_SET


@pytest.fixture
def standin() -> Iterator[ShopifyAdminStandIn]:
    shop = ShopifyAdminStandIn(token="t", shop="s.myshopify.com").start()
    yield shop
    shop.stop()


def product_set(
    standin: ShopifyAdminStandIn, product: dict[str, Any], identifier: Any = None
) -> Any:
    return standin.execute(
        {"query": SET, "variables": {"identifier": identifier, "input": product}}
    )


def variant(sku: str, value: str, price: str = "5.00") -> dict[str, Any]:
    return {"sku": sku, "price": price, "optionValues": [{"optionName": "Size", "name": value}]}


OPTIONS = [{"name": "Size", "values": [{"name": "S"}, {"name": "M"}]}]


def codes(answer: dict[str, Any]) -> list[str]:
    return [e["code"] for e in answer["data"]["productSet"]["userErrors"]]


def test_product_set_creates_with_variants_and_options(standin: ShopifyAdminStandIn) -> None:
    answer = product_set(
        standin,
        {
            "title": "Tee",
            "productOptions": OPTIONS,
            "variants": [variant("T-S", "S"), variant("T-M", "M")],
        },
    )
    product = answer["data"]["productSet"]["product"]
    assert [v["sku"] for v in product["variants"]["nodes"]] == ["T-S", "T-M"]
    assert all(v["inventoryItem"]["id"] for v in product["variants"]["nodes"])


def test_product_set_refuses_what_shopify_refuses(standin: ShopifyAdminStandIn) -> None:
    assert codes(product_set(standin, {"title": "Tee", "variants": [variant("T-S", "S")]})) == [
        "PRODUCT_OPTIONS_INPUT_MISSING"
    ]
    assert codes(
        product_set(
            standin, {"title": "Tee", "productOptions": OPTIONS, "variants": [variant("T-L", "L")]}
        )
    ) == ["OPTION_VALUE_DOES_NOT_EXIST"]
    assert codes(
        product_set(standin, {"productOptions": OPTIONS, "variants": [variant("T-S", "S")]})
    ) == ["INVALID_PRODUCT"]
    assert codes(product_set(standin, {"title": "x"}, {"id": "gid://shopify/Product/404"})) == [
        "PRODUCT_DOES_NOT_EXIST"
    ]
    # A variant without optionValues is refused by the schema itself (required input field).
    answer = product_set(
        standin, {"title": "Tee", "productOptions": OPTIONS, "variants": [{"sku": "x"}]}
    )
    assert "errors" in answer and "optionValues" in str(answer["errors"][0])
    assert standin.writes.refused.get("productSet") == 4 and standin.shop.nodes["products"] == {}


def stock(item: str, location: str, **extra: Any) -> dict[str, Any]:
    return {"inventoryItemId": item, "locationId": location, "quantity": 4, **extra}


def test_inventory_set_quantities_needs_its_idempotency_key_and_known_places(
    standin: ShopifyAdminStandIn,
) -> None:
    made = product_set(
        standin, {"title": "Tee", "productOptions": OPTIONS, "variants": [variant("T-S", "S")]}
    )
    item = made["data"]["productSet"]["product"]["variants"]["nodes"][0]["inventoryItem"]["id"]
    no_key = writer.INVENTORY_SET.replace(" @idempotent(key: $key)", "").replace(
        ", $key: String!", ""
    )
    base = {"name": "available", "reason": "correction"}
    answer = standin.execute(
        {
            "query": no_key,
            "variables": {
                "input": {
                    **base,
                    "quantities": [
                        stock(item, "gid://shopify/Location/1", changeFromQuantity=None)
                    ],
                }
            },
        }
    )
    assert "@idempotent" in answer["errors"][0]["message"]

    def run(quantities: list[dict[str, Any]], key: str, **input_: Any) -> list[str]:
        body = {"input": {**base, **input_, "quantities": quantities}, "key": key}
        answer = standin.execute({"query": writer.INVENTORY_SET, "variables": body})
        return [e["code"] for e in answer["data"]["inventorySetQuantities"]["userErrors"]]

    assert run([stock(item, "gid://shopify/Location/9", changeFromQuantity=None)], "k1") == [
        "INVALID_LOCATION"
    ]
    assert run([stock(item, "gid://shopify/Location/3", changeFromQuantity=None)], "k2") == [
        "INVALID_LOCATION"
    ]
    assert run(
        [
            stock(
                "gid://shopify/InventoryItem/1", "gid://shopify/Location/1", changeFromQuantity=None
            )
        ],
        "k3",
    ) == ["INVALID_INVENTORY_ITEM"]
    assert run([stock(item, "gid://shopify/Location/1")], "k4") == ["COMPARE_QUANTITY_REQUIRED"]
    assert run([stock(item, "gid://shopify/Location/1", changeFromQuantity=3)], "k5") == [
        "CHANGE_FROM_QUANTITY_STALE"
    ]
    assert run(
        [stock(item, "gid://shopify/Location/1", changeFromQuantity=None)], "k6", reason="whim"
    ) == ["INVALID_REASON"]
    assert run([stock(item, "gid://shopify/Location/1", changeFromQuantity=0)], "k7") == []
    assert (
        run([stock(item, "gid://shopify/Location/1", changeFromQuantity=0)], "k7") == []
    )  # same key
    assert standin.writes.products.stock() == [
        {"inventory_item_id": item, "location_id": "gid://shopify/Location/1", "available": 4}
    ]
