"""Shopify GraphQL Admin API nodes → the REST/webhook shape that ``sources.shopify`` reads.

Reconciliation and backfill read Shopify through GraphQL; webhooks arrive in the REST
shape. Rather than a second normaliser, GraphQL nodes are mapped onto the REST field names
once, here, and then take the webhook's path: the same fact yields the same entity and
the same ``version``, so the CRM's views see one order whichever way it came. Pure code.
"""

from __future__ import annotations

from typing import Any

#: A customer's e-mail and phone (``Customer.email``/``.phone`` are deprecated in 2026-10).
CONTACT_FIELDS = "defaultEmailAddress { emailAddress } defaultPhoneNumber { phoneNumber }"
#: The fields reconciliation and backfill ask for; ``order_node_to_rest`` reads them.
ORDER_FIELDS = """
id legacyResourceId name createdAt updatedAt processedAt cancelledAt cancelReason closedAt
displayFinancialStatus displayFulfillmentStatus currencyCode presentmentCurrencyCode
note tags email phone sourceName sourceIdentifier
customAttributes { key value }
app { id }
subtotalPriceSet { shopMoney { amount } }
totalTaxSet { shopMoney { amount } }
totalDiscountsSet { shopMoney { amount } }
totalShippingPriceSet { shopMoney { amount } }
totalPriceSet { shopMoney { amount } presentmentMoney { amount currencyCode } }
customer { legacyResourceId firstName lastName CONTACT }
shippingAddress { name company address1 address2 city province zip country countryCodeV2 phone }
""".replace("CONTACT", CONTACT_FIELDS)
LINE_ITEM_FIELDS = """
id sku title variantTitle quantity
originalUnitPriceSet { shopMoney { amount } }
totalDiscountSet { shopMoney { amount } }
variant { legacyResourceId }
product { legacyResourceId }
"""
CUSTOMER_FIELDS = """
id legacyResourceId firstName lastName CONTACT tags numberOfOrders createdAt updatedAt
defaultAddress { name company address1 address2 city province zip country countryCodeV2 phone }
""".replace("CONTACT", CONTACT_FIELDS)
#: A refund as reconcile and backfill read it: the total in the shop's currency
#: (``shopMoney``) and in the customer's (``presentmentMoney``). Its line items are read
#: by their own paged query (``REFUND_LINE_ITEM_FIELDS``).
REFUND_FIELDS = """
id legacyResourceId createdAt note
totalRefundedSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
"""
REFUND_LINE_ITEM_FIELDS = "quantity lineItem { id sku }"
PRODUCT_FIELDS = """
id legacyResourceId title vendor productType status tags createdAt updatedAt
"""
VARIANT_FIELDS = "id legacyResourceId sku title price inventoryQuantity"


def legacy_id(node: dict[str, Any] | None) -> str | None:
    """The numeric id of a node: ``legacyResourceId``, else the tail of its ``gid://``."""
    if not node:
        return None
    if node.get("legacyResourceId"):
        return str(node["legacyResourceId"])
    gid = str(node.get("id") or "")
    return gid.rsplit("/", 1)[-1] or None


def _shop_amount(value: dict[str, Any] | None) -> str | None:
    return ((value or {}).get("shopMoney") or {}).get("amount")


def _lower(value: Any) -> str | None:
    return str(value).lower() if value else None


#: GraphQL ``displayFulfillmentStatus`` → the word the REST/webhook ``fulfillment_status``
#: uses. REST knows only ``fulfilled``, ``partial``, ``restocked`` and null (nothing
#: fulfilled yet); every other GraphQL state (UNFULFILLED, OPEN, IN_PROGRESS, ON_HOLD,
#: SCHEDULED, PENDING_FULFILLMENT, REQUEST_DECLINED) is null there.
FULFILLMENT_STATUS = {
    "FULFILLED": "fulfilled",
    "PARTIALLY_FULFILLED": "partial",
    "RESTOCKED": "restocked",
}


def fulfillment_status(value: Any) -> str | None:
    return FULFILLMENT_STATUS.get(str(value or "").upper())


def _email(customer: dict[str, Any]) -> Any:
    return (customer.get("defaultEmailAddress") or {}).get("emailAddress")


def _phone(customer: dict[str, Any]) -> Any:
    return (customer.get("defaultPhoneNumber") or {}).get("phoneNumber")


def _address(node: dict[str, Any] | None) -> dict[str, Any] | None:
    if not node:
        return None
    return {**node, "country_code": node.get("countryCodeV2")}


def _nodes(connection: Any) -> list[dict[str, Any]]:
    """Items of a connection in any of its shapes: ``nodes``, ``edges``, or a plain list."""
    if isinstance(connection, list):
        return connection
    if not isinstance(connection, dict):
        return []
    if "nodes" in connection:
        return list(connection["nodes"])
    return [edge["node"] for edge in connection.get("edges") or []]


def order_node_to_rest(node: dict[str, Any]) -> dict[str, Any]:
    customer = node.get("customer") or None
    total = node.get("totalPriceSet") or {}
    shipping = _shop_amount(node.get("totalShippingPriceSet"))
    return {
        "id": legacy_id(node),
        "name": node.get("name"),
        "order_number": (node.get("name") or "").lstrip("#") or None,
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "cancel_reason": _lower(node.get("cancelReason")),
        "closed_at": node.get("closedAt"),
        "financial_status": _lower(node.get("displayFinancialStatus")),
        "fulfillment_status": fulfillment_status(node.get("displayFulfillmentStatus")),
        "currency": node.get("currencyCode"),
        "presentment_currency": node.get("presentmentCurrencyCode"),
        "subtotal_price": _shop_amount(node.get("subtotalPriceSet")),
        "total_tax": _shop_amount(node.get("totalTaxSet")),
        "total_discounts": _shop_amount(node.get("totalDiscountsSet")),
        "total_price": _shop_amount(total),
        "total_price_set": {"presentment_money": total.get("presentmentMoney") or {}},
        "shipping_lines": [{"price": shipping}] if shipping is not None else [],
        "note": node.get("note"),
        "tags": node.get("tags") or [],
        "email": node.get("email"),
        "phone": node.get("phone"),
        "source_name": node.get("sourceName"),
        # Our orders' identity (``orderhub.shopify.markers``) and the CRM's attribution.
        "source_identifier": node.get("sourceIdentifier"),
        "app_id": legacy_id(node.get("app")),
        "note_attributes": [
            {"name": a.get("key"), "value": a.get("value")}
            for a in node.get("customAttributes") or []
            if isinstance(a, dict)
        ],
        "customer": {
            "id": legacy_id(customer),
            "first_name": customer.get("firstName"),
            "last_name": customer.get("lastName"),
            "email": _email(customer),
            "phone": _phone(customer),
        }
        if customer
        else None,
        "shipping_address": _address(node.get("shippingAddress")),
        "line_items": [
            {
                "id": legacy_id(line),
                "sku": line.get("sku"),
                "title": line.get("title"),
                "variant_title": line.get("variantTitle"),
                "quantity": line.get("quantity"),
                "price": _shop_amount(line.get("originalUnitPriceSet")),
                "total_discount": _shop_amount(line.get("totalDiscountSet")),
                "variant_id": legacy_id(line.get("variant")),
                "product_id": legacy_id(line.get("product")),
            }
            for line in _nodes(node.get("lineItems"))
        ],
    }


def _money_set(value: dict[str, Any] | None) -> dict[str, Any]:
    def one(money: dict[str, Any] | None) -> dict[str, Any] | None:
        if not money:
            return None
        return {"amount": money.get("amount"), "currency_code": money.get("currencyCode")}

    value = value or {}
    return {
        "shop_money": one(value.get("shopMoney")),
        "presentment_money": one(value.get("presentmentMoney")),
    }


def refund_node_to_rest(
    node: dict[str, Any], order_id: str, line_items: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A GraphQL ``Refund`` (with its refund line items, if read) as the REST refund that
    ``refunds/create`` delivers, plus ``total_refunded_set`` for the shop-currency total."""
    return {
        "id": legacy_id(node),
        "order_id": order_id,
        "created_at": node.get("createdAt"),
        "note": node.get("note"),
        "total_refunded_set": _money_set(node.get("totalRefundedSet")),
        "transactions": [],
        "refund_line_items": [
            {
                "line_item_id": legacy_id(item.get("lineItem")),
                "quantity": item.get("quantity"),
                "line_item": {"sku": (item.get("lineItem") or {}).get("sku")},
            }
            for item in line_items or _nodes(node.get("refundLineItems"))
        ],
    }


def customer_node_to_rest(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": legacy_id(node),
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "email": _email(node),
        "phone": _phone(node),
        "tags": node.get("tags") or [],
        "orders_count": int(node["numberOfOrders"]) if node.get("numberOfOrders") else None,
        "default_address": _address(node.get("defaultAddress")),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
    }


def product_node_to_rest(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": legacy_id(node),
        "title": node.get("title"),
        "vendor": node.get("vendor"),
        "product_type": node.get("productType"),
        "status": _lower(node.get("status")),
        "tags": node.get("tags") or [],
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "variants": [
            {
                "id": legacy_id(v),
                "sku": v.get("sku"),
                "title": v.get("title"),
                "price": v.get("price"),
                "inventory_quantity": v.get("inventoryQuantity"),
            }
            for v in _nodes(node.get("variants"))
        ],
    }
