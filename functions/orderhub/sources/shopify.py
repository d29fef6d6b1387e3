"""Shopify webhook payloads → canonical events. Pure code: no I/O, no clock.

One function per resource; ``normalise`` dispatches on the webhook topic. A payload we
cannot turn into an event raises ``PoisonMessage`` with the reason, and the caller
quarantines it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    "orders/delete": "order.deleted",
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
    # A merchant uninstalled our app: the shop is disconnected (recorded, no order made;
    # shopify_sync forgets its tokens and switches its outbound sync off).
    "app/uninstalled": "shop.uninstalled",
}
#: The privacy topics: Shopify takes them in the app's configuration, never through
#: ``webhookSubscriptionCreate`` (scripts/shopify_register_webhooks leaves them out).
COMPLIANCE_TOPICS = frozenset(t for t, kind in TOPICS.items() if kind == "privacy.requested")

#: ``X-Shopify-Triggered-At`` is not signed: it is used as a version only while it is this
#: close to our own receipt time (a replay cannot push it into the future).
TRIGGER_SKEW = timedelta(minutes=5)

#: The keys a Shopify delete body may carry with a value: the id and its GraphQL id.
#: (``customers/delete`` also sends ``phone``, ``addresses``, ... but null or empty.)
DELETE_KEYS = frozenset({"id", "admin_graphql_api_id"})
_GID_TYPES = {"customer": "Customer", "product": "Product", "order": "Order"}


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: what the headers said, and when it reached us."""

    topic: str
    shop: str
    webhook_id: str
    event_id: str | None
    triggered_at: str | None
    received_at: datetime
    #: Our own app's ids (``SHOPIFY_APP_IDS``): an order another app created is never
    #: taken for the echo of ours, whatever its markers say. Empty: markers alone decide.
    own_app_ids: frozenset[str] = frozenset()


def trusted_trigger_time(delivery: Delivery) -> datetime:
    """``X-Shopify-Triggered-At`` if it parses and lies within ``TRIGGER_SKEW`` of our
    receipt time; otherwise the receipt time. The header is unsigned: a replayed body with
    a far-future trigger time must not outrank every later version of the entity."""
    if delivery.triggered_at:
        try:
            moment = parse_time(delivery.triggered_at)
        except ValueError:
            return delivery.received_at
        if abs(moment - delivery.received_at) <= TRIGGER_SKEW:
            return moment
    return delivery.received_at


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not value)


def delete_mismatch(entity_type: str, payload: dict[str, Any]) -> str | None:
    """Why this body cannot be a ``*/delete`` of ``entity_type``, or None.

    Shopify's delete bodies name the deleted id and nothing else of substance. A signed
    body that carries more (``updated_at``, ``created_at``, ``email``, ``variants``, ...)
    is a full resource replayed under a delete topic: believing it would hide a live
    customer, product or order.
    """
    extra = sorted(k for k, v in payload.items() if k not in DELETE_KEYS and not _empty(v))
    if extra:
        shown = ", ".join(extra[:4]) + (", ..." if len(extra) > 4 else "")
        return f"not a delete body: it carries {shown}"
    gid = payload.get("admin_graphql_api_id")
    if (
        gid is not None
        and str(gid) != f"gid://shopify/{_GID_TYPES[entity_type]}/{payload.get('id')}"
    ):
        return f"not a {entity_type} delete: admin_graphql_api_id names another resource"
    return None


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
    entity: dict[str, Any] = {
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
    contact = chat_contact(payload)
    if contact:  # the chat-bot's product link carried the contact (see chat_contact)
        # A payment link from the order form says the manager named the contact.
        named = any(
            isinstance(a, dict)
            and a.get("name") == f"{CONTACT_PARAMETER}_evidence"
            and a.get("value") == "manager"
            for a in payload.get("note_attributes") or []
        )
        entity["attribution"].update(
            contact_id=contact, contact_evidence="manager" if named else "link"
        )
    return entity


#: The cart attribute / URL parameter the chat-bot's product links carry (orderhub.chatbot).
CONTACT_PARAMETER = "orderhub_contact"


def chat_contact(payload: dict[str, Any]) -> str | None:
    """The ManyChat contact id an order carries from a chat product link, or None.

    The bot's "Buy" link is a cart permalink with ``attributes[orderhub_contact]=<id>``:
    cart attributes survive checkout as the order's ``note_attributes``. Its "View" link
    opens the product page with ``?orderhub_contact=<id>``, which survives in the order's
    ``landing_site`` when that page opened the visitor's session.
    """
    for attribute in payload.get("note_attributes") or []:
        if isinstance(attribute, dict) and attribute.get("name") == CONTACT_PARAMETER:
            value = str(attribute.get("value") or "").strip()
            if value.isdigit():
                return value
    from urllib.parse import parse_qs, urlsplit

    landing = str(payload.get("landing_site") or "")
    for value in parse_qs(urlsplit(landing).query).get(CONTACT_PARAMETER, []):
        if value.strip().isdigit():
            return value.strip()
    return None


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


def _consent(value: Any) -> dict[str, Any] | None:
    """A marketing-consent record of a customer webhook (lower-case states), or None."""
    if not isinstance(value, dict) or not value.get("state"):
        return None
    return {
        "state": str(value["state"]).lower(),
        "opt_in_level": _str(value.get("opt_in_level")),
        "consent_updated_at": _str(value.get("consent_updated_at")),
    }


def customer_entity(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "email_marketing_consent": _consent(payload.get("email_marketing_consent")),
        "sms_marketing_consent": _consent(payload.get("sms_marketing_consent")),
        "customer_id": _id(payload),
        "name": _person_name(payload),
        "email": _str(payload.get("email")),
        "phone": _str(payload.get("phone")),
        "tags": _tags(payload.get("tags")),
        "note": _str(payload.get("note")),
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
        # For the chat-bot's catalogue cards: the product page and its first image.
        "handle": _str(payload.get("handle")),
        "image_url": _str((payload.get("image") or {}).get("src"))
        or next((_str(i.get("src")) for i in payload.get("images") or [] if i.get("src")), None),
        "variants": [
            {
                "variant_id": _str(v.get("id")),
                "sku": _str(v.get("sku")),
                "title": _str(v.get("title")),
                "price": _str(v.get("price")),
                "inventory_quantity": v.get("inventory_quantity"),
                # The product page's details (issue 24).
                "compare_at_price": _str(v.get("compare_at_price")),
                "barcode": _str(v.get("barcode")),
                "weight": _str(v.get("weight")),
                "weight_unit": _str(v.get("weight_unit")),
                "inventory_item_id": _str(v.get("inventory_item_id")),
                "options": [
                    str(v[k]) for k in ("option1", "option2", "option3") if v.get(k) is not None
                ],
            }
            for v in payload.get("variants") or []
        ],
        "description": _str(payload.get("body_html")),
        "images": [str(i["src"]) for i in payload.get("images") or [] if i.get("src")],
        "options": [str(o.get("name")) for o in payload.get("options") or [] if o.get("name")],
        "updated_at": _str(payload.get("updated_at")),
    }


def join_crm_product(entity: dict[str, Any]) -> dict[str, Any]:
    """A Shopify product created from a CRM product (its ``orderhub-product:`` tag) as a
    version of that CRM product: same id, so the ``products`` view keeps one product, with
    Shopify's id beside it. Any other product is returned as it is."""
    from orderhub.shopify.markers import crm_product_of

    crm_id = crm_product_of(entity.get("tags") or ())
    if crm_id is None:
        return entity
    return {**entity, "product_id": crm_id, "shopify_product_id": entity["product_id"]}


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
    others lack; a delete carries only the id (``delete_mismatch``).
    """
    event_type = TOPICS[topic]
    kind = event_type.split(".")[0]
    if event_type.endswith(".deleted"):
        return delete_mismatch(kind, payload)
    if event_type == "privacy.requested":
        return None
    if event_type == "shop.uninstalled":
        return None if "myshopify_domain" in payload else "not a shop: no myshopify_domain"
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


#: The ``sourceName`` shopify_sync gives the orders it creates.
ORDERHUB_SOURCE_NAME = "orderhub"


def admin_order_url(shop: str, order_id: str) -> str:
    return f"https://{shop}/admin/orders/{order_id}"


def echo_of_crm_order(
    shop: str,
    payload: dict[str, Any],
    entity: dict[str, Any],
    own_app_ids: frozenset[str] = frozenset(),
) -> tuple[str, str, dict[str, Any]] | None:
    """A Shopify order that ``shopify_sync`` wrote from a CRM order, as a version of that
    CRM order: (its source, its shop key in the CRM, the entity under the CRM's id with the
    Shopify id and admin link added). None for every other order: only our
    ``sourceIdentifier`` on an order our app created (``own_app_ids``) makes it ours
    (``orderhub.shopify.markers``); attributes a customer can set never do.

    What only the CRM knew is not in Shopify's copy: the manager's chosen chat contact and
    its evidence travel as the order's custom attributes (read by ``order_entity``); the
    channel as the ``channel:`` tag; the e-mail channel of a marketplace order is kept by
    the source (``attribution.channel`` falls back to ``email``)."""
    from orderhub.shopify.markers import crm_ref

    ref = crm_ref(payload, own_app_ids)
    if ref is None:
        return None
    shopify_id = entity["order_id"]
    attribution = dict(entity.get("attribution") or {})
    if attribution.get("channel") in (None, "shopify"):
        # Shopify's copy says nothing of where the CRM order came from.
        attribution["channel"] = "email" if ref.source.startswith("email:") else ref.source
    if attribution.get("source_name") in (None, ORDERHUB_SOURCE_NAME):
        attribution["source_name"] = {"manual": "order_form"}.get(
            ref.source, ref.source.split(":", 1)[-1]
        )
    joined = {
        **entity,
        "order_id": ref.order_id,
        "name": ref.name or entity.get("name"),
        "number": ref.order_id,
        # Shopify's created_at is when we wrote it; processed_at is the order's own time.
        "created_at": _str(payload.get("processed_at")) or entity.get("created_at"),
        "attribution": attribution,
        "shopify_order_id": shopify_id,
        "shopify_order_name": entity.get("name"),
        "shopify_admin_url": admin_order_url(shop, shopify_id),
    }
    return ref.source, ref.shop or shop, joined


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
        moment = trusted_trigger_time(delivery)
        entity = privacy_entity(delivery.topic, payload)
        entity_id = entity["request_id"]
        # Do not archive a fresh copy of the e-mail and phone the request asks us to erase:
        # the raw record keeps the ids and the hash of what Shopify sent.
        raw = {
            **raw,
            "body": json.dumps(entity, sort_keys=True),
            "meta": {**raw.get("meta", {}), "encoding": "minimised"},
        }
    elif event_type == "shop.uninstalled":
        # The body is the shop (its owner's e-mail, phone, address): keep only its ids.
        moment = delivery.received_at
        entity = {
            "shop_id": _str(payload.get("id")),
            "myshopify_domain": _str(payload.get("myshopify_domain")),
            "status": "uninstalled",
        }
        entity_id = delivery.shop
        raw = {
            **raw,
            "body": json.dumps(entity, sort_keys=True),
            "meta": {**raw.get("meta", {}), "encoding": "minimised"},
        }
    elif deleted:
        # Delete payloads carry only the id. Their version is our receipt time, which no
        # sender can move (the unsigned Triggered-At could be set far in the future).
        moment = delivery.received_at
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
        entity = join_crm_product(product_entity(payload))
        entity_id = entity["product_id"]

    source, shop = SOURCE, delivery.shop
    if entity_type == "order" and event_type != "order.refunded" and not deleted:
        joined = echo_of_crm_order(delivery.shop, payload, entity, delivery.own_app_ids)
        if joined is not None:
            source, shop, entity = joined
            entity_id = entity["order_id"]
            if event_type == "order.created":
                event_type = "order.updated"  # the CRM order exists: no second order, no alert

    return make_event(
        event_type=event_type,
        source=source,
        shop=shop,
        occurred_at=moment,
        version=version_of(moment),
        entity_id=entity_id,
        entity=entity,
        raw=raw,
    )
