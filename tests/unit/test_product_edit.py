"""The CRM app's product form (issue 24) in pure code: what an owner typed becomes the
product entity, errors are named per field, Shopify's options survive an edit, and only the
stock the owner changed is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from orderhub.order_form import product_edit as edit

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "event.v1.json").read_text())
SHOPIFY_TEE = {
    "product_id": "7001",
    "title": "Tee",
    "options": ["Size", "Colour"],
    "variants": [
        {
            "variant_id": "8001",
            "sku": "TEE-S-W",
            "title": "S / White",
            "options": ["S", "White"],
            "price": "10.00",
            "inventory_item_id": "9001",
            "inventory_quantity": 4,
        },
    ],
}


def form(**fields: str) -> dict[str, str]:
    base = {
        "title": "Tee",
        "status": "active",
        "variants-0-variant_id": "8001",
        "variants-0-sku": "TEE-S-W",
        "variants-0-title": "S / White",
        "variants-0-price": "12.50",
        "variants-0-stock-0-location_id": "gid://shopify/Location/1",
        "variants-0-stock-0-was": "",
        "variants-0-stock-0-quantity": "",
    }
    return {**base, **fields}


def test_a_price_edit_keeps_shopifys_options_and_sends_no_stock() -> None:
    entity = edit.parse_form(form(), SHOPIFY_TEE)
    [variant] = entity["variants"]
    assert variant["price"] == "12.50" and variant["options"] == ["S", "White"]
    assert entity["options"] == ["Size", "Colour"]
    assert "stock_set" not in variant and variant["inventory_item_id"] == "9001"


def test_stock_typed_for_a_location_is_set_there_only() -> None:
    entity = edit.parse_form(form(**{"variants-0-stock-0-quantity": "7"}), SHOPIFY_TEE)
    assert entity["variants"][0]["stock_set"] == [
        {"location_id": "gid://shopify/Location/1", "quantity": 7, "was": None}
    ]


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"title": " "}, "title"),
        ({"variants-0-price": "12.505"}, "variants-0-price"),
        ({"variants-0-price": "-1"}, "variants-0-price"),
        ({"variants-0-price": ""}, "variants-0-price"),
        ({"variants-0-weight": "heavy"}, "variants-0-weight"),
        ({"variants-1-sku": "TEE-S-W", "variants-1-price": "3"}, "variants-1-sku"),
        ({"variants-0-stock-0-quantity": "lots"}, "variants-0-stock-0-quantity"),
    ],
)
def test_each_error_is_named_at_its_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(edit.Invalid) as caught:
        edit.parse_form(form(**fields), SHOPIFY_TEE)
    assert field in caught.value.errors


def test_the_event_is_a_valid_canonical_product_upserted_from_manual_with_its_owner() -> None:
    entity = edit.parse_form(form(title="Linen tee", **{"variants-0-variant_id": ""}), None)
    token = "abc_123"
    event = edit.product_event(
        entity,
        product_id=edit.new_product_id(token),
        shop="s.myshopify.com",
        owner=edit.Owner("owner-1", "Olena"),
        token=token,
        at=datetime(2026, 12, 7, 10, tzinfo=UTC),
    )
    jsonschema.validate(event, SCHEMA)
    assert (event["event_type"], event["source"], event["entity_type"]) == (
        "product.upserted",
        "manual",
        "product",
    )
    assert event["entity_id"].startswith("crm-") and event["entity"]["changed_by"] == "owner-1"
    assert event["entity"]["options"] == ["Title"] and event["entity"]["variants"][0][
        "options"
    ] == ["S / White"]
    again = edit.product_event(
        entity,
        product_id=edit.new_product_id(token),
        shop="s.myshopify.com",
        owner=edit.Owner("owner-1", "Olena"),
        token=token,
        at=datetime(2026, 12, 7, 10, tzinfo=UTC),
    )
    assert again["event_id"] == event["event_id"]  # a double tap is one event
