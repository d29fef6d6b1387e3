"""Our Shopify Admin API client against the stand-in, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from orderhub.errors import ConfigError
from orderhub.shopify.admin import ShopifyAdmin, ShopifyRejected, draft_order_input
from orderhub.sources.manual import Line

SHOP = "client-test.myshopify.com"
TOKEN = "shpat_client_test"


@pytest.fixture
def standin() -> Iterator[Any]:
    from devstack.standins.shopify_admin import ShopifyAdminStandIn

    server = ShopifyAdminStandIn(token=TOKEN, shop=SHOP).start()
    yield server
    server.stop()


def client(url: str, token: str = TOKEN) -> ShopifyAdmin:
    return ShopifyAdmin(base_url=url, access_token=token, session=requests.Session())


def test_draft_order_create_returns_a_checkout_link_for_variants_and_custom_items(
    standin: Any,
) -> None:
    draft_input = draft_order_input(
        [
            Line("IPod Nano", 2, Decimal("180.00"), variant_id="808950810"),
            Line("Gift wrap", 1, Decimal("3.50"), sku="WRAP"),
        ],
        currency="USD",
        note="call first",
        tags=["orderhub"],
    )
    draft = client(standin.url).draft_order_create(draft_input)
    assert draft.invoice_url.startswith(f"https://{SHOP}/")
    assert (draft.total, draft.currency) == ("363.50", "USD")
    recorded = standin.store.all("draft_orders")
    assert [d["id"] for d in recorded] == [draft.id]
    assert recorded[0]["input"]["lineItems"][0]["priceOverride"]["amount"] == "180.00"


def test_a_wrong_token_is_a_configuration_error(standin: Any) -> None:
    with pytest.raises(ConfigError, match="SHOPIFY_ADMIN_TOKEN"):
        client(standin.url, token="shpat_wrong").draft_order_create({"lineItems": []})
    assert standin.store.all("draft_orders") == []


def test_user_errors_come_back_as_messages_for_the_manager(standin: Any) -> None:
    with pytest.raises(ShopifyRejected) as refused:
        client(standin.url).draft_order_create({"lineItems": [{"title": "x", "quantity": 0}]})
    assert refused.value.messages == ["Quantity must be at least 1"]


def test_the_standin_answers_only_the_selected_fields_and_refuses_unknown_ones(
    standin: Any,
) -> None:
    admin = client(standin.url)
    data = admin.graphql(
        "mutation m($i: DraftOrderInput!) { made: draftOrderCreate(input: $i) {"
        " draftOrder { invoiceUrl } userErrors { message } } }",
        {"i": {"lineItems": [{"title": "Tea", "quantity": 1, "originalUnitPrice": 2}]}},
    )
    assert set(data["made"]["draftOrder"]) == {"invoiceUrl"}
    with pytest.raises(ShopifyRejected, match="doesn't exist"):
        admin.graphql("{ shopifyPaymentsAccount { id } }")


def test_more_operations_can_be_registered(standin: Any) -> None:
    standin.register("shop", lambda args, store: {"name": "Demo", "myshopifyDomain": store.shop})
    assert client(standin.url).graphql("{ shop { myshopifyDomain } }") == {
        "shop": {"myshopifyDomain": SHOP}
    }
