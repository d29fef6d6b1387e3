"""Shopify webhook payloads → canonical events. Pure code: no I/O, no clock.

One function per resource; ``normalise`` dispatches on the webhook topic. A payload we
cannot turn into an event raises ``PoisonMessage`` with the reason, and the caller
quarantines it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from orderhub.errors import PoisonMessage
from orderhub.event import (
    Address,
    Event,
    LineItem,
    Money,
    Party,
    Raw,
    make_event,
    parse_time,
    stable_id,
    version_of,
)

SOURCE = "shopify"

#: Webhook topic → canonical event type.
TOPICS: dict[str, str] = {
    "orders/create": "order.created",
    "orders/updated": "order.updated",
    "orders/paid": "order.updated",
    "orders/fulfilled": "order.updated",
    "orders/partially_fulfilled": "order.updated",
    "orders/cancelled": "order.cancelled",
    "refunds/create": "order.refunded",
    "customers/create": "customer.upserted",
    "customers/update": "customer.upserted",
    "customers/delete": "customer.deleted",
    "products/create": "product.upserted",
    "products/update": "product.upserted",
    "products/delete": "product.deleted",
    # Shopify's mandatory privacy (GDPR/CPRA) webhooks: kept and put before a person.
    **{
        topic: "privacy.requested"
        for topic in ("customers/data_request", "customers/redact", "shop/redact")
    },
}
#: The privacy topics: Shopify takes them in the app's configuration, never through
#: ``webhookSubscriptionCreate`` (scripts/shopify_register_webhooks leaves them out).
COMPLIANCE_TOPICS = frozenset(t for t, kind in TOPICS.items() if kind == "privacy.requested")


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: what the headers said, and when it reached us."""

    topic: str
    shop: str
    webhook_id: str
    event_id: str | None
    triggered_at: str | None
    received_at: datetime


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _money(value: Any, currency: str) -> Money:
    try:
        amount = Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation as exc:
        raise PoisonMessage(f"not a money amount: {value!r}") from exc
    return {"amount": str(amount), "currency": currency}


def _tags(value: Any) -> list[str]:
    """Shopify sends tags as one comma-separated string."""
    if isinstance(value, list):
        return [str(t).strip() for t in value if str(t).strip()]
    return [t.strip() for t in str(value or "").split(",") if t.strip()]


def _address(value: Any) -> Address | None:
    if not isinstance(value, dict):
        return None
    name = value.get("name") or " ".join(
        p for p in (value.get("first_name"), value.get("last_name")) if p
    )
    return {
        "name": _str(name),
        "company": _str(value.get("company")),
        "address1": _str(value.get("address1")),
        "address2": _str(value.get("address2")),
        "city": _str(value.get("city")),
        "province": _str(value.get("province")),
        "zip": _str(value.get("zip")),
        "country": _str(value.get("country")),
        "country_code": _str(value.get("country_code")),
        "phone": _str(value.get("phone")),
    }


def _person_name(value: dict[str, Any]) -> str | None:
    name = " ".join(p for p in (value.get("first_name"), value.get("last_name")) if p)
    return name or None


def _time(payload: dict[str, Any], *keys: str) -> datetime:
    for key in keys:
        if payload.get(key):
            try:
                return parse_time(str(payload[key]))
            except ValueError as exc:
                raise PoisonMessage(f"{key} is not a timestamp: {payload[key]!r}") from exc
    raise PoisonMessage(f"payload has none of {', '.join(keys)}")


def _id(payload: dict[str, Any], key: str = "id") -> str:
    value = payload.get(key)
    if value in (None, ""):
        raise PoisonMessage(f"payload has no {key}")
    return str(value)


def order_entity(payload: dict[str, Any]) -> dict[str, Any]:
    """A Shopify order (REST/webhook shape) as the canonical order."""
    currency = str(payload.get("currency") or "")
    if not currency:
        raise PoisonMessage("order has no currency")
    presentment = str(payload.get("presentment_currency") or currency)
    presentment_total = ((payload.get("total_price_set") or {}).get("presentment_money") or {}).get(
        "amount"
    )
    customer: dict[str, Any] = payload.get("customer") or {}
    if not isinstance(customer, dict):
        customer = {}
    shipping = payload.get("shipping_address")
    party: Party = {
        "id": _str(customer.get("id")),
        "name": _person_name(customer) or _str((shipping or {}).get("name")),
        "email": _str(payload.get("email") or customer.get("email")),
        "phone": _str(
            payload.get("phone") or customer.get("phone") or (shipping or {}).get("phone")
        ),
    }
    lines: list[LineItem] = []
    for item in payload.get("line_items") or []:
        lines.append(
            {
                "line_id": _str(item.get("id")),
                "product_id": _str(item.get("product_id")),
                "variant_id": _str(item.get("variant_id")),
                "sku": _str(item.get("sku")),
                "title": str(item.get("title") or item.get("name") or ""),
                "variant_title": _str(item.get("variant_title")),
                "quantity": int(item.get("quantity") or 0),
                "unit_price": _money(item.get("price"), currency),
                "total_discount": _money(item.get("total_discount"), currency),
            }
        )
    shipping_total = sum(
        (Decimal(str(line.get("price") or "0")) for line in payload.get("shipping_lines") or []),
        Decimal("0"),
    )
    tags = _tags(payload.get("tags"))
    # Orders completed from the order form's payment link carry who and where from as tags.
    tagged = dict(t.split(":", 1) for t in tags if t.startswith(("channel:", "manager:")))
    return {
        "order_id": _id(payload),
        "name": _str(payload.get("name")),
        "number": _str(payload.get("order_number") or payload.get("number")),
        "created_at": _str(payload.get("created_at")),
        "updated_at": _str(payload.get("updated_at")),
        "financial_status": _str(payload.get("financial_status")),
        "fulfillment_status": _str(payload.get("fulfillment_status")),
        "cancelled_at": _str(payload.get("cancelled_at")),
        "cancel_reason": _str(payload.get("cancel_reason")),
        "closed_at": _str(payload.get("closed_at")),
        "currency": currency,
        "presentment_currency": presentment,
        "subtotal": _money(payload.get("subtotal_price"), currency),
        "tax": _money(payload.get("total_tax"), currency),
        "discounts": _money(payload.get("total_discounts"), currency),
        "shipping": {"amount": str(shipping_total), "currency": currency},
        "total": _money(payload.get("total_price"), currency),
        "total_presentment": _money(
            presentment_total if presentment_total is not None else payload.get("total_price"),
            presentment,
        ),
        "customer": party,
        "shipping_address": _address(shipping),
        "line_items": lines,
        "note": _str(payload.get("note")),
        "tags": tags,
        "attribution": {
            "channel": tagged.get("channel") or "shopify",
            "source_name": _str(payload.get("source_name")),
            "landing_site": _str(payload.get("landing_site")),
            "referring_site": _str(payload.get("referring_site")),
        },
        "external_ref": _str(payload.get("name")),
        "manager": tagged.get("manager"),
    }


def _shop_money(value: Any) -> tuple[Decimal, str] | None:
    """``(amount, currency)`` of a money set's ``shop_money``, if it has one."""
    money = (value or {}).get("shop_money") if isinstance(value, dict) else None
    if not isinstance(money, dict) or money.get("amount") in (None, ""):
        return None
    try:
        return Decimal(str(money["amount"])), str(money.get("currency_code") or "")
    except InvalidOperation as exc:
        raise PoisonMessage(f"not a money amount: {money['amount']!r}") from exc


def _refund_in_shop_currency(
    payload: dict[str, Any], paid_back: Decimal, currency: str
) -> tuple[Decimal, str]:
    """The refunded total in the shop's currency (what ``orders.total`` is in).

    Refund transactions are in the customer's (presentment) currency. The total in shop
    money is read as Shopify gives it (``total_refunded_set``, which reconcile and
    backfill carry); a webhook's refund has money sets on its line items and order
    adjustments instead, whose shop/presentment ratio converts the transactions. A refund
    with neither was made in one currency, which is then the shop's.
    """
    given = _shop_money(payload.get("total_refunded_set"))
    if given is not None:
        return given
    shop_sum, presentment_sum, shop_currency = Decimal("0"), Decimal("0"), ""
    sets = [
        line.get(key)
        for line in payload.get("refund_line_items") or []
        for key in ("subtotal_set", "total_tax_set")
    ] + [adj.get("amount_set") for adj in payload.get("order_adjustments") or []]
    for money_set in sets:
        shop = _shop_money(money_set)
        presentment = ((money_set or {}).get("presentment_money") or {}).get("amount")
        if shop is None or presentment in (None, ""):
            continue
        shop_sum += abs(shop[0])
        presentment_sum += abs(Decimal(str(presentment)))
        shop_currency = shop_currency or shop[1]
    if not shop_currency or shop_currency == currency or presentment_sum == 0:
        return paid_back, currency
    converted = (paid_back * shop_sum / presentment_sum).quantize(Decimal("0.01"))
    return converted, shop_currency


def refund_entity(payload: dict[str, Any]) -> dict[str, Any]:
    transactions = [
        t
        for t in payload.get("transactions") or []
        if t.get("kind") == "refund" and t.get("status") in (None, "success")
    ]
    currency = str(next((t.get("currency") for t in transactions if t.get("currency")), "") or "")
    paid_back = sum((Decimal(str(t.get("amount") or "0")) for t in transactions), Decimal("0"))
    amount, shop_currency = _refund_in_shop_currency(payload, paid_back, currency)
    presentment = ((payload.get("total_refunded_set") or {}).get("presentment_money")) or {}
    if not transactions and presentment.get("amount") not in (None, ""):
        paid_back = Decimal(str(presentment["amount"]))
        currency = str(presentment.get("currency_code") or "")
    return {
        "refund_id": _id(payload),
        "order_id": _id(payload, "order_id"),
        "created_at": _str(payload.get("created_at")),
        "note": _str(payload.get("note")),
        "amount": {"amount": str(amount), "currency": shop_currency},
        "amount_presentment": {"amount": str(paid_back), "currency": currency},
        "line_items": [
            {
                "line_id": _str(line.get("line_item_id")),
                "sku": _str((line.get("line_item") or {}).get("sku")),
                "quantity": int(line.get("quantity") or 0),
            }
            for line in payload.get("refund_line_items") or []
        ],
    }


def customer_entity(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_id": _id(payload),
        "name": _person_name(payload),
        "email": _str(payload.get("email")),
        "phone": _str(payload.get("phone")),
        "tags": _tags(payload.get("tags")),
        "orders_count": payload.get("orders_count"),
        "default_address": _address(payload.get("default_address")),
        "created_at": _str(payload.get("created_at")),
        "updated_at": _str(payload.get("updated_at")),
    }


def product_entity(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "product_id": _id(payload),
        "title": str(payload.get("title") or ""),
        "vendor": _str(payload.get("vendor")),
        "product_type": _str(payload.get("product_type")),
        "status": _str(payload.get("status")),
        "tags": _tags(payload.get("tags")),
        "variants": [
            {
                "variant_id": _str(v.get("id")),
                "sku": _str(v.get("sku")),
                "title": _str(v.get("title")),
                "price": _str(v.get("price")),
                "inventory_quantity": v.get("inventory_quantity"),
            }
            for v in payload.get("variants") or []
        ],
        "updated_at": _str(payload.get("updated_at")),
    }


def stable_reconcile_id(shop: str, gid: str, updated_at: str) -> str:
    """The raw id of a node read back from the Admin API (reconcile, backfill)."""
    return stable_id("shopify-admin", shop, gid, updated_at)


def privacy_entity(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A privacy request: what is asked, about whom (ids only), and which orders.

    The customer's e-mail and phone are not copied: the CRM finds the customer by id, and
    a redaction request should not leave new personal data behind.
    """
    customer: dict[str, Any] = payload.get("customer") or {}
    request: dict[str, Any] = payload.get("data_request") or {}
    if not isinstance(customer, dict) or not isinstance(request, dict):
        raise PoisonMessage(f"{topic}: customer and data_request must be objects")
    orders = payload.get("orders_requested") or payload.get("orders_to_redact") or []
    subject = _str(customer.get("id")) or _str(payload.get("shop_id"))
    if subject is None:
        raise PoisonMessage(f"{topic} names neither a customer nor a shop")
    return {
        "request_id": f"{topic}:{subject}:{_str(request.get('id')) or ''}",
        "request": topic,
        "customer_id": _str(customer.get("id")),
        "shop_id": _str(payload.get("shop_id")),
        "order_ids": [str(o) for o in orders],
        "data_request_id": _str(request.get("id")),
    }


def mismatch(topic: str, payload: dict[str, Any]) -> str | None:
    """Why this body cannot be what its topic says, or None.

    Shopify signs the body but not the ``X-Shopify-Topic`` header, so a captured delivery
    could be replayed under another topic: an order's body as ``orders/cancelled`` would
    otherwise cancel it in the CRM and tell the managers so. Each resource has a field the
    others lack; a delete carries only an id, so there is nothing to check.
    """
    event_type = TOPICS[topic]
    if event_type.endswith(".deleted") or event_type == "privacy.requested":
        return None
    kind = event_type.split(".")[0]
    if event_type == "order.refunded":
        return None if "refund_line_items" in payload else "not a refund: no refund_line_items"
    if kind == "order":
        if "line_items" not in payload:
            return "not an order: no line_items"
        if topic == "orders/cancelled" and not payload.get("cancelled_at"):
            return "orders/cancelled for an order that is not cancelled (no cancelled_at)"
        return None
    if kind == "product":
        return None if "variants" in payload else "not a product: no variants"
    foreign = [k for k in ("line_items", "refund_line_items", "variants") if k in payload]
    return f"not a customer: has {foreign[0]}" if foreign else None


def normalise(delivery: Delivery, body: bytes, raw: Raw) -> Event:
    """Turn one authenticated webhook delivery into a canonical event.

    Raises ``PoisonMessage`` (the caller quarantines the body) when the topic is not one
    we handle or the body is not a Shopify resource we can read.
    """
    event_type = TOPICS.get(delivery.topic)
    if event_type is None:
        raise PoisonMessage(f"unhandled topic {delivery.topic!r}")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"body is not JSON: {exc.__class__.__name__}") from exc
    if not isinstance(payload, dict):
        raise PoisonMessage("body is not a JSON object")
    reason = mismatch(delivery.topic, payload)
    if reason:
        raise PoisonMessage(f"{delivery.topic}: {reason}")

    entity_type = event_type.split(".")[0]
    deleted = event_type.endswith(".deleted")
    entity: dict[str, Any]
    if event_type == "privacy.requested":
        # Privacy payloads carry no timestamp; the delivery time orders them.
        moment = (
            parse_time(delivery.triggered_at) if delivery.triggered_at else delivery.received_at
        )
        entity = privacy_entity(delivery.topic, payload)
        entity_id = entity["request_id"]
        # Do not archive a fresh copy of the e-mail and phone the request asks us to erase:
        # the raw record keeps the ids and the hash of what Shopify sent.
        raw = {
            **raw,
            "body": json.dumps(entity, sort_keys=True),
            "meta": {**raw.get("meta", {}), "encoding": "minimised"},
        }
    elif deleted:
        # Delete payloads carry only the id; the delivery time orders them.
        moment = (
            parse_time(delivery.triggered_at) if delivery.triggered_at else delivery.received_at
        )
        entity_id = _id(payload)
        entity = {f"{entity_type}_id": entity_id, "deleted": True}
    elif entity_type == "order" and event_type != "order.refunded":
        moment = _time(payload, "updated_at", "created_at")
        entity = order_entity(payload)
        entity_id = entity["order_id"]
    elif event_type == "order.refunded":
        moment = _time(payload, "created_at", "processed_at")
        entity = refund_entity(payload)
        entity_id = entity["refund_id"]
    elif entity_type == "customer":
        moment = _time(payload, "updated_at", "created_at")
        entity = customer_entity(payload)
        entity_id = entity["customer_id"]
    else:
        moment = _time(payload, "updated_at", "created_at")
        entity = product_entity(payload)
        entity_id = entity["product_id"]

    return make_event(
        event_type=event_type,
        source=SOURCE,
        shop=delivery.shop,
        occurred_at=moment,
        version=version_of(moment),
        entity_id=entity_id,
        entity=entity,
        raw=raw,
    )
