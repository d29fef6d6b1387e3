"""What to write into Shopify for a canonical event: pure decisions, no I/O.

* ``order_skip_reason``: why an order event is not sent (its source is Shopify, the switch
  of its source is off, ...), in words for ``sync_status``.
* ``order_create_input``: the ``OrderCreateOrderInput`` and options for a CRM order: lines
  matched to variants by SKU (else a custom line with title and price), customer, shipping
  address, money, ``financialStatus``, ``processedAt`` = the order's own time, our markers.
* ``customer_set_input`` / ``customer_unchanged``: the ``customerSet`` upsert (never an
  address list, which would delete the customer's other addresses) and whether it would
  change anything at all.
* ``consent_to_send``: a marketing-consent decision to send, only when it is newer than
  what Shopify holds (the newest decision wins, so a resync never re-subscribes anyone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from orderhub.event import Event, parse_time
from orderhub.shopify import markers
from orderhub.switches import Switches

FINANCIAL_STATUS = {
    "pending": "PENDING",
    "authorized": "AUTHORIZED",
    "partially_paid": "PARTIALLY_PAID",
    "paid": "PAID",
    "partially_refunded": "PARTIALLY_REFUNDED",
    "refunded": "REFUNDED",
    "voided": "VOIDED",
}
ORDER_TYPES = ("order.created", "order.updated", "order.cancelled")
#: Shopify's ``OrderCancelReason`` values.
CANCEL_REASONS = ("CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "STAFF", "OTHER")
#: ``displayFinancialStatus`` values under which "mark paid" has nothing to do.
PAID_IN_SHOPIFY = ("PAID", "PARTIALLY_REFUNDED", "REFUNDED")
#: What the consent mutations take (NOT_SUBSCRIBED, REDACTED, INVALID are Shopify's own).
CONSENT_STATES = ("SUBSCRIBED", "UNSUBSCRIBED", "PENDING")


def action_write(action: Mapping[str, Any]) -> str | None:
    """What a manager's action (``order.action``) writes in Shopify: ``fulfil`` (shipped),
    ``paid``, ``cancel``, ``edit`` (address and note) or ``items`` (an edit of items);
    ``None`` for the rest (comments, confirmed, packed, ...)."""
    if action.get("kind") == "edit" and action.get("line_items"):
        return "items"  # Shopify's order editing (shopify_sync.items)
    if action.get("kind") in ("paid", "edit"):
        return str(action["kind"])
    if action.get("kind") == "status":
        return {"shipped": "fulfil", "cancelled": "cancel"}.get(str(action.get("status")))
    return None


def edit_input(action: Mapping[str, Any]) -> dict[str, Any]:
    """``OrderInput`` (besides the id) for a manager's edit: the note (``""`` clears it) and,
    when the edit gives one, the shipping address."""
    fields: dict[str, Any] = {"note": str(action.get("note") or "")}
    address = shipping_address_input(action.get("shipping_address"))
    if address:
        fields["shippingAddress"] = address
    return fields


def cancel_reason(value: Any) -> str:
    """The CRM's cancel reason as Shopify's ``OrderCancelReason`` (``OTHER`` if unknown)."""
    reason = str(value or "other").upper()
    return reason if reason in CANCEL_REASONS else "OTHER"


def source_label(source: str) -> str:
    if source.startswith("email:"):
        return f"e-mail ({source.split(':', 1)[1]})"
    return {"manual": "the order form", "chatbot": "the chat-bot"}.get(source, source)


def order_skip_reason(event: Event, switches: Switches) -> str | None:
    """None when the order event is to be written to Shopify."""
    if not switches.outbound_orders:
        return "switched off: orders are not sent to Shopify (outbound.orders)"
    if not switches.source_on(event["source"]):
        return f"switched off: orders from {source_label(event['source'])} are not sent to Shopify"
    if event.get("origin") == "backfill":
        return "history from a backfill is not sent to Shopify"
    return None


def _money(value: Any, currency: str) -> dict[str, Any] | None:
    if isinstance(value, Mapping):
        currency = str(value.get("currency") or currency)
        value = value.get("amount")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return None
    return {"shopMoney": {"amount": str(amount), "currencyCode": currency}}


def _amount(value: Any) -> Decimal:
    if isinstance(value, Mapping):
        value = value.get("amount")
    try:
        return Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        return Decimal("0")


def split_name(name: str | None) -> tuple[str | None, str | None]:
    parts = (name or "").split()
    if not parts:
        return None, None
    if len(parts) == 1:
        return None, parts[0]  # Shopify needs a last name more than a first
    return " ".join(parts[:-1]), parts[-1]


@dataclass
class OrderPlan:
    order: dict[str, Any]
    options: dict[str, Any]
    #: Things worth telling about an order that was still sent (custom lines, ...).
    notes: list[str] = field(default_factory=list)


def shipping_address_input(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not address or not address.get("address1"):
        return None
    first, last = split_name(address.get("name"))
    wanted = {
        "firstName": first,
        "lastName": last,
        "company": address.get("company"),
        "address1": address.get("address1"),
        "address2": address.get("address2"),
        "city": address.get("city"),
        "provinceCode": address.get("province_code"),
        "zip": address.get("zip"),
        "countryCode": (address.get("country_code") or "").upper() or None,
        "phone": address.get("phone"),
    }
    return {k: v for k, v in wanted.items() if v}


def order_tags(source: str, order: Mapping[str, Any]) -> list[str]:
    """The tags our Shopify order carries: our markers, the CRM's tags, manager, channel."""
    tags = [*markers.order_tags(source)]
    for tag in order.get("tags") or []:
        if tag not in tags:
            tags.append(str(tag))
    if order.get("manager") and not any(t.startswith("manager:") for t in tags):
        tags.append(f"manager:{order['manager']}")
    channel = (order.get("attribution") or {}).get("channel")
    if channel and not any(t.startswith("channel:") for t in tags):
        tags.append(f"channel:{channel}")
    return tags


@dataclass(frozen=True)
class OrderUpdatePlan:
    fields: dict[str, Any]  # orderUpdate input besides the id: note, tags
    mark_paid: bool
    notes: tuple[str, ...] = ()

    @property
    def changes_nothing(self) -> bool:
        return not self.fields and not self.mark_paid


def order_update_input(event: Event, current: Any) -> OrderUpdatePlan:
    """What a CRM edit of an order already in Shopify changes there, against what Shopify
    holds (``current``: a ``ShopifyOrder``): the note, the tags (compared as a set; Shopify
    keeps them in its own order) and "paid" (``orderMarkAsPaid``; Shopify takes no other
    financial status from an edit). Nothing that is already so is sent."""
    order = event["entity"]
    fields: dict[str, Any] = {}
    note = order.get("note") or None
    if (note or "") != (current.note or ""):
        fields["note"] = note or ""
    tags = order_tags(event["source"], order)
    if {t.strip().lower() for t in tags} != {t.strip().lower() for t in current.tags}:
        fields["tags"] = tags
    wanted = FINANCIAL_STATUS.get(str(order.get("financial_status") or ""), None)
    held = str(current.financial_status or "").upper()
    mark_paid = wanted == "PAID" and held not in ("PAID", "PARTIALLY_REFUNDED", "REFUNDED")
    notes: list[str] = []
    if wanted and wanted not in ("PAID", held) and not mark_paid:
        notes.append(
            f"financial status {wanted.lower()} kept in the CRM only"
            " (Shopify takes only 'paid' from an edit)"
        )
    return OrderUpdatePlan(fields, mark_paid, tuple(notes))


def crm_shop_of(event: Event, shop: str | None) -> str | None:
    """The CRM's shop key of the order when it is not the Shopify shop (a mailbox), else
    None: it goes into the ``sourceIdentifier`` and the link key."""
    return event["shop"] if shop is not None and event["shop"] != shop else None


def contact_attributes(order: Mapping[str, Any]) -> list[dict[str, str]]:
    """The chat contact the CRM attributed the order to, as custom attributes of our
    Shopify order, so Shopify's copy (echo, reconcile, backfill) keeps the attribution.
    Read back only from an order proven ours (``markers.crm_ref``)."""
    attribution = order.get("attribution") or {}
    contact = attribution.get("contact_id")
    if not contact:
        return []
    attributes = [{"key": CONTACT_ATTRIBUTE, "value": str(contact)}]
    if attribution.get("contact_evidence"):
        attributes.append(
            {"key": f"{CONTACT_ATTRIBUTE}_evidence", "value": str(attribution["contact_evidence"])}
        )
    return attributes


#: The attribute the webhook normaliser reads a chat contact from
#: (``orderhub.sources.shopify.CONTACT_PARAMETER``).
CONTACT_ATTRIBUTE = "orderhub_contact"


def order_create_input(
    event: Event,
    *,
    variants: Mapping[str, str],
    switches: Switches,
    customer_id: str | None,
    shop: str | None = None,
) -> OrderPlan:
    """``shop``: the Shopify shop, when the CRM keys the order by another (a mailbox)."""
    order = event["entity"]
    currency = str(order.get("currency") or "USD")
    source, order_id = event["source"], str(order.get("order_id") or event["entity_id"])
    crm_shop = crm_shop_of(event, shop)
    notes: list[str] = []
    lines: list[dict[str, Any]] = []
    for item in order.get("line_items") or []:
        quantity = int(item.get("quantity") or 1)
        price = _money(item.get("unit_price"), currency)
        sku = item.get("sku")
        variant = variants.get(sku) if sku else None
        if variant:
            line: dict[str, Any] = {"variantId": variant, "quantity": quantity}
            if price:
                line["priceSet"] = price
        else:
            if sku:
                notes.append(f"variant not found for SKU {sku}: sent as a custom line")
            line = {"title": str(item.get("title") or "Item"), "quantity": quantity}
            if price:
                line["priceSet"] = price
            if sku:
                line["sku"] = sku
            if item.get("variant_title"):
                line["variantTitle"] = item["variant_title"]
        lines.append(line)
    customer = order.get("customer") or {}
    tags = order_tags(source, order)
    created = order.get("created_at") or event["occurred_at"]
    status = FINANCIAL_STATUS.get(str(order.get("financial_status") or "pending"), "PENDING")
    result: dict[str, Any] = {
        "currency": currency,
        "lineItems": lines,
        "financialStatus": status,
        "processedAt": created,
        "sourceIdentifier": markers.source_identifier(source, order_id, crm_shop),
        "sourceName": "orderhub",
        "tags": tags,
        "customAttributes": markers.order_attributes(source, order_id, order.get("name"), crm_shop)
        + contact_attributes(order),
    }
    if order.get("note"):
        result["note"] = order["note"]
    if customer.get("email"):
        result["email"] = customer["email"]
    if customer.get("phone"):
        result["phone"] = customer["phone"]
    if customer_id:
        result["customer"] = {"toAssociate": {"id": customer_id}}
    address = shipping_address_input(order.get("shipping_address"))
    if address:
        result["shippingAddress"] = address
    shipping = _amount(order.get("shipping"))
    if shipping > 0:
        result["shippingLines"] = [
            {"title": "Delivery", "priceSet": _money(str(shipping), currency)}
        ]
    discount = _amount(order.get("discounts"))
    if discount > 0:
        result["discountCode"] = {
            "itemFixedDiscountCode": {
                "code": "CRM-DISCOUNT",
                "amountSet": _money(str(discount), currency),
            }
        }
    transaction = paid_transaction(order, switches, currency, created)
    if transaction is not None:
        result["transactions"] = [transaction]
        result.pop("financialStatus")  # Shopify derives it from the transactions
        notes.append(f"paid in Shopify ({order.get('payment_type')}): a sale transaction sent")
    options = {
        "inventoryBehaviour": "DECREMENT_OBEYING_POLICY",  # the default, BYPASS, keeps stock
        "sendReceipt": switches.send_receipt,
        "sendFulfillmentReceipt": False,
    }
    return OrderPlan(result, options, notes)


def paid_transaction(
    order: Mapping[str, Any], switches: Switches, currency: str, processed_at: Any
) -> dict[str, Any] | None:
    """The ``OrderCreateOrderTransactionInput`` of an order whose payment type the owner
    marked "paid in Shopify": one successful sale of the order's total, through a manual
    gateway named after the payment type. ``None`` for every other order."""
    kind = str(order.get("payment_type") or "")
    total = _amount(order.get("total"))
    if not kind or kind not in switches.paid_in_shopify or total <= 0:
        return None
    return {
        "kind": "SALE",
        "status": "SUCCESS",
        "gateway": kind.replace("_", " "),
        "amountSet": {"shopMoney": {"amount": str(total), "currencyCode": currency}},
        "processedAt": processed_at,
    }


# ------------------------------------------------------------------ customers
@dataclass(frozen=True)
class CustomerWish:
    """What the CRM knows of a customer, in the shape ``customerSet`` takes."""

    email: str | None
    phone: str | None  # E.164
    first_name: str | None
    last_name: str | None
    tags: tuple[str, ...] = ()
    #: A customer edited in the CRM app (``crm_customer_wish``) is the CRM's whole record:
    #: its tag list (with the totals tags) replaces Shopify's, and its note and address go
    #: too. ``None``: not sent (customers of orders, e-mail and chat).
    send_tags: tuple[str, ...] | None = None
    note: str | None = None
    address: dict[str, Any] | None = None  # MailingAddressInput

    @property
    def record_id(self) -> str:
        return self.email or self.phone or ""

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


def customer_wish(party: Mapping[str, Any] | None, tags: Any = ()) -> CustomerWish | None:
    if not party:
        return None
    email = (party.get("email") or "").strip().lower() or None
    phone = (party.get("phone") or "").replace(" ", "") or None
    if not email and not phone:
        return None
    first, last = split_name(party.get("name"))
    return CustomerWish(email, phone, first, last, tuple(str(t) for t in tags or ()))


#: Our own tags on a Shopify customer: the totals across every source. Read back from
#: Shopify's echo, they are never taken for the CRM's own tags.
TOTALS_PREFIX = "orderhub-"
#: What an address needs before Shopify takes it, in the manager's words.
ADDRESS_NEEDS = {"address1": "the street", "city": "the city", "country_code": "the country"}


def totals_tags(orders_count: Any, spent: Any) -> list[str]:
    """``orderhub-orders:3`` and ``orderhub-spent:EUR 120.50`` (one per currency)."""
    tags = [f"{TOTALS_PREFIX}orders:{int(orders_count or 0)}"]
    for money in spent or ():
        if isinstance(money, Mapping) and money.get("currency"):
            amount = _amount(money.get("amount")).quantize(Decimal("0.01"))
            tags.append(f"{TOTALS_PREFIX}spent:{money['currency']} {amount}")
    return tags


def crm_tags(tags: Any) -> list[str]:
    """The CRM's own tags (ours about totals left out), cleaned as Shopify keeps them."""
    seen: dict[str, str] = {}
    for tag in tags or ():
        text = " ".join(str(tag).replace(",", " ").split())[:255]
        if text and not text.startswith(TOTALS_PREFIX):
            seen.setdefault(text.casefold(), text)
    return list(seen.values())


def address_input(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The CRM's address (the webhooks' shape) as ``MailingAddressInput``."""
    if not address:
        return None
    wanted = {
        "address1": address.get("address1"),
        "address2": address.get("address2"),
        "city": address.get("city"),
        "zip": address.get("zip"),
        "countryCode": (address.get("country_code") or "").upper() or None,
        "provinceCode": address.get("province_code"),
        "phone": address.get("phone"),
    }
    found = {k: str(v) for k, v in wanted.items() if v}
    return found or None


def address_missing(address: Mapping[str, Any] | None) -> list[str]:
    """What the CRM's address lacks for Shopify, in words (empty: complete or no address)."""
    if not address or not any(address.get(k) for k in ("address1", "city", "zip")):
        return []
    return [words for key, words in ADDRESS_NEEDS.items() if not address.get(key)]


def crm_customer_wish(entity: Mapping[str, Any]) -> CustomerWish | None:
    """A customer edited in the CRM app (``customer.upserted`` from ``manual``): name,
    e-mail, phone, note, address, the CRM's tags and the totals across every source."""
    wish = customer_wish(entity, crm_tags(entity.get("tags")))
    if wish is None:
        return None
    send = [*wish.tags, *totals_tags(entity.get("orders_count"), entity.get("total_spent"))]
    return CustomerWish(
        wish.email,
        wish.phone,
        wish.first_name,
        wish.last_name,
        wish.tags,
        send_tags=tuple(send),
        note=str(entity.get("note") or ""),
        address=address_input(entity.get("default_address")),
    )


def customer_skip_reason(wish: CustomerWish, switches: Switches, consented: bool) -> str | None:
    if not switches.outbound_customers:
        return "switched off: customers are not sent to Shopify (outbound.customers)"
    if switches.customer_tag and switches.customer_tag not in wish.tags:
        return f"filtered: customer lacks the tag {switches.customer_tag}"
    if switches.customer_tags and not set(switches.customer_tags) & set(wish.tags):
        return "filtered: customer is on none of the lists " + ", ".join(switches.customer_tags)
    if switches.consent_required and not consented:
        return "filtered: only customers with marketing consent are sent"
    return None


def protects_existing(source: str) -> bool:
    """Customers from e-mail and chat are typed by whoever wrote the order (a marketplace
    form, a chat): they never change an existing Shopify customer, whose phone or e-mail
    they may share by mistake or on purpose. The order form's are a manager's."""
    return source.startswith("email:") or source in ("chatbot", "manychat")


def customer_identifier(wish: CustomerWish) -> dict[str, str]:
    return {"email": wish.email} if wish.email else {"phone": str(wish.phone)}


def customer_set_input(wish: CustomerWish, *, with_address: bool = False) -> dict[str, Any]:
    """``CustomerSetInput``: no list field for customers of orders (``addresses`` would
    replace them all); a customer edited in the CRM also sends its tags (the whole list)
    and note, and its address when ``with_address`` (the Shopify customer has at most one,
    so nothing else is replaced)."""
    wanted: dict[str, Any] = {
        "email": wish.email,
        "phone": wish.phone,
        "firstName": wish.first_name,
        "lastName": wish.last_name,
    }
    found = {k: v for k, v in wanted.items() if v}
    if wish.send_tags is not None:
        found["tags"] = list(wish.send_tags)
    if wish.note is not None:
        found["note"] = wish.note
    if with_address and wish.address:
        found["addresses"] = [wish.address]
    return found


def _address_same(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    theirs = {**(current or {}), "countryCode": (current or {}).get("countryCodeV2")}
    return all(_same(str(theirs.get(k) or ""), str(v)) for k, v in wanted.items() if k != "phone")


def _same(a: str | None, b: str | None) -> bool:
    return " ".join((a or "").casefold().split()) == " ".join((b or "").casefold().split())


def customer_unchanged(current: Any, wish: CustomerWish) -> bool:
    """True when the Shopify customer already holds everything we would write."""
    return (
        (wish.email is None or _same(current.email, wish.email))
        and (wish.phone is None or current.phone == wish.phone)
        and (wish.first_name is None or _same(current.first_name, wish.first_name))
        and (wish.last_name is None or _same(current.last_name, wish.last_name))
        and (
            wish.send_tags is None
            or {t.casefold() for t in current.tags} == {t.casefold() for t in wish.send_tags}
        )
        and (wish.note is None or (current.note or "") == wish.note)
        and (
            wish.address is None
            or current.addresses > 1  # not ours to send (see customer_set_input)
            or _address_same(current.address, wish.address)
        )
    )


def refusal_words(codes: set[str], fields: set[str], wish: CustomerWish, message: str) -> str:
    """Shopify's refusal of a customer in the manager's words (TAKEN is looked up and
    explained by the caller)."""
    if "phone" in fields and wish.phone:
        return f"the phone {wish.phone} is not a valid phone number (Shopify refused it)"
    if "email" in fields and wish.email:
        return f"the e-mail {wish.email} is not a valid e-mail address (Shopify refused it)"
    if "addresses" in fields:
        return f"the address is incomplete for Shopify ({message})"
    if "tags" in fields:
        return f"a tag is not valid for Shopify: at most 255 characters, no commas ({message})"
    return f"Shopify refused it: {message}"


def may_merge(other: Any, wish: CustomerWish) -> bool:
    """The customer that holds our phone or e-mail is ours when the name agrees and the
    other contact does not contradict."""
    name_agrees = _same(
        " ".join(p for p in (other.first_name, other.last_name) if p), wish.name
    ) and bool(wish.name)
    email_ok = not wish.email or not other.email or _same(other.email, wish.email)
    phone_ok = not wish.phone or not other.phone or other.phone == wish.phone
    return name_agrees and email_ok and phone_ok


# -------------------------------------------------------------------- consent
def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return parse_time(str(value))
    except ValueError:
        return None


def consent_to_send(
    decision: Mapping[str, Any] | None, current: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The consent input to send, or None when Shopify's record is as new or newer.

    ``decision`` is the CRM's, in the webhooks' shape: ``state`` (subscribed,
    unsubscribed, ...), ``opt_in_level``, ``consent_updated_at``. A decision without its
    time is never sent: without it, it could overrule a newer one.
    """
    if not decision:
        return None
    state = str(decision.get("state") or "").upper()
    at = _time(decision.get("consent_updated_at"))
    if state not in CONSENT_STATES or at is None:
        return None
    theirs = _time((current or {}).get("consentUpdatedAt"))
    if theirs is not None and theirs >= at:
        return None
    if (current or {}).get("marketingState") == state and theirs is not None:
        return None
    level = str(decision.get("opt_in_level") or "SINGLE_OPT_IN").upper()
    return {
        "marketingState": state,
        "marketingOptInLevel": level,
        "consentUpdatedAt": at.isoformat().replace("+00:00", "Z"),
    }
