"""The Shopify stand-in's order editing (issue 22, edit items) is as strict as Shopify's:
a calculated order per ``orderEditBegin`` with its own id and calculated line items;
refusals for an unknown or committed calculated order, an unknown line item, a quantity
below what was fulfilled, a cancelled order, an unknown variant, a negative quantity; the
commit applies the lines, recomputes the totals and sends ``orders/updated`` (and
``orders/edited`` only to a subscription for it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.shopify_sender import fixture
from devstack.standins.shopify_admin import ShopifyAdminStandIn
from orderhub.shopify import writer

PINK = "gid://shopify/ProductVariant/808950810"  # the product fixture's variants, 199.00
RED = "gid://shopify/ProductVariant/49148385"


@pytest.fixture
def standin() -> Iterator[ShopifyAdminStandIn]:
    shop = ShopifyAdminStandIn(token="t", shop="s.myshopify.com").start()
    shop.shop.put_product(fixture("product"))
    yield shop
    shop.stop()


def run(standin: ShopifyAdminStandIn, query: str, **variables: Any) -> Any:
    answer = standin.execute({"query": query, "variables": variables})
    assert "errors" not in answer, answer
    return answer["data"]


def order(standin: ShopifyAdminStandIn) -> str:
    """An order of 2 RED (199.00) and a gift wrap (2.00) with 5.00 delivery: 405.00."""
    money = {"shopMoney": {"amount": "2.00", "currencyCode": "USD"}}
    delivery = {"shopMoney": {"amount": "5.00", "currencyCode": "USD"}}
    data = run(
        standin,
        writer.ORDER_CREATE,
        order={
            "currency": "USD",
            "lineItems": [
                {"variantId": RED, "quantity": 2},
                {"title": "Gift wrap", "quantity": 1, "priceSet": money},
            ],
            "shippingLines": [{"title": "Courier", "priceSet": delivery}],
        },
    )
    return str(data["orderCreate"]["order"]["id"])


def begin(standin: ShopifyAdminStandIn, gid: str) -> tuple[str, list[dict[str, Any]]]:
    payload = run(standin, writer.ORDER_EDIT_BEGIN, id=gid)["orderEditBegin"]
    assert payload["userErrors"] == []
    calculated = payload["calculatedOrder"]
    return calculated["id"], calculated["lineItems"]["nodes"]


def errors(data: dict[str, Any], name: str) -> list[str]:
    return [e["message"] for e in data[name]["userErrors"]]


def test_an_edit_applies_the_lines_recomputes_the_totals_and_sends_the_webhooks(
    standin: ShopifyAdminStandIn,
) -> None:
    standin.writes.webhook_url = "http://127.0.0.1:9/hooks"  # nobody listens: recorded only
    standin.writes.webhook_secret = "s"
    gid = order(standin)
    calculated, lines = begin(standin, gid)
    assert calculated.startswith("gid://shopify/CalculatedOrder/")
    assert [(li["title"], li["quantity"], li["editableQuantity"]) for li in lines] == [
        ("IPod Nano - 8GB", 2, 2),
        ("Gift wrap", 1, 1),
    ]
    assert all(li["id"].startswith("gid://shopify/CalculatedLineItem/") for li in lines)
    assert begin(standin, gid)[0] != calculated  # a calculated order per begin

    set_q = run(
        standin,
        writer.ORDER_EDIT_SET_QUANTITY,
        id=calculated,
        lineItemId=lines[1]["id"],
        quantity=0,
    )
    assert set_q["orderEditSetQuantity"]["calculatedLineItem"]["quantity"] == 0
    added = run(standin, writer.ORDER_EDIT_ADD_VARIANT, id=calculated, variantId=PINK, quantity=1)
    assert added["orderEditAddVariant"]["userErrors"] == []
    rest = standin.writes.orders[gid]
    assert rest["total_price"] == "405.00"  # nothing applied before the commit
    committed = run(
        standin, writer.ORDER_EDIT_COMMIT, id=calculated, notifyCustomer=False, staffNote="by Anna"
    )
    assert committed["orderEditCommit"] == {"order": {"id": gid}, "userErrors": []}

    assert [(li["title"], li["quantity"], li["current_quantity"]) for li in rest["line_items"]] == [
        ("IPod Nano - 8GB", 2, 2),
        ("Gift wrap", 1, 0),  # Shopify keeps what was ordered; the current quantity is 0
        ("IPod Nano - 8GB", 1, 1),
    ]
    assert (rest["subtotal_price"], rest["total_price"]) == ("597.00", "602.00")
    lines_now = run(standin, writer.ORDER_LINES, id=gid)["order"]["lineItems"]["nodes"]
    assert [li["currentQuantity"] for li in lines_now] == [2, 0, 1]
    assert standin.writes.order_edits.commits[-1]["staff_note"] == "by Anna"
    sent = [(s["topic"], s["status"]) for s in standin.writes.sent]
    assert ("orders/edited", "not subscribed") in sent  # the app did not subscribe to it
    assert [t for t, _ in sent].count("orders/updated") == 1
    assert [t for t, _ in sent].count("orders/edited") == 1

    again = run(standin, writer.ORDER_EDIT_COMMIT, id=calculated, notifyCustomer=False)
    assert errors(again, "orderEditCommit") == ["The order edit has already been committed."]


def test_the_stand_in_refuses_what_shopify_refuses(standin: ShopifyAdminStandIn) -> None:
    gid = order(standin)
    calculated, lines = begin(standin, gid)
    red = lines[0]["id"]

    def set_q(**v: Any) -> list[str]:
        return errors(run(standin, writer.ORDER_EDIT_SET_QUANTITY, **v), "orderEditSetQuantity")

    def add(**v: Any) -> list[str]:
        return errors(run(standin, writer.ORDER_EDIT_ADD_VARIANT, **v), "orderEditAddVariant")

    unknown = "gid://shopify/CalculatedOrder/404"
    assert set_q(id=unknown, lineItemId=red, quantity=1) == ["The calculated order does not exist."]
    assert set_q(id=calculated, lineItemId="gid://shopify/CalculatedLineItem/404", quantity=1) == [
        "The calculated line item does not exist."
    ]
    assert set_q(id=calculated, lineItemId=red, quantity=-1) == [
        "Quantity must be greater than or equal to 0."
    ]
    assert add(id=calculated, variantId="gid://shopify/ProductVariant/404", quantity=1) == [
        "Variant does not exist."
    ]
    assert add(id=calculated, variantId=PINK, quantity=0) == ["Quantity must be greater than 0."]
    assert add(id=calculated, variantId=RED, quantity=1) == ["The variant is already on the order."]

    # Fulfilled: not below what was sent.
    fulfilment = run(standin, writer.ORDER_FULFILMENT, id=gid)["order"]
    orders = [n["id"] for n in fulfilment["fulfillmentOrders"]["nodes"]]
    run(
        standin,
        writer.FULFILLMENT_CREATE,
        fulfillment={
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": o} for o in orders],
            "notifyCustomer": False,
        },
    )
    calculated, lines = begin(standin, gid)
    assert lines[0]["editableQuantity"] == 0
    assert set_q(id=calculated, lineItemId=lines[0]["id"], quantity=1) == [
        "Cannot reduce the quantity of IPod Nano - 8GB below its fulfilled quantity (2)."
    ]
    assert set_q(id=calculated, lineItemId=lines[0]["id"], quantity=3) == []  # more is fine

    # Cancelled: no edit begins.
    run(standin, writer.ORDER_CANCEL, orderId=gid, reason="CUSTOMER", restock=True)
    refused = run(standin, writer.ORDER_EDIT_BEGIN, id=gid)
    assert errors(refused, "orderEditBegin") == ["Cannot edit a cancelled order."]
    assert refused["orderEditBegin"]["calculatedOrder"] is None
    unknown_order = run(standin, writer.ORDER_EDIT_BEGIN, id="gid://shopify/Order/404")
    assert errors(unknown_order, "orderEditBegin") == ["Order does not exist."]
    assert standin.writes.refused["orderEditSetQuantity"] == 4
    assert "orderEditCommit" not in standin.writes.counts
