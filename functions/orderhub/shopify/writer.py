"""The Admin GraphQL API calls ``shopify_sync`` makes, paced and with errors mapped.

Every call goes through ``orderhub.shopify.graphql.call``: it waits while the cost bucket
(``extensions.cost.throttleStatus``) cannot pay for the next call and retries answers that
Shopify ``THROTTLED``. What comes back is told apart the way the consumer acts on it:

* ``TransientError`` (from the transport, throttling that does not end, 5xx): raise, so
  Pub/Sub redelivers;
* ``Refused``: Shopify answered with ``userErrors``; each has a ``code`` (``TAKEN``,
  ``INVALID``, ...) and a message fit for a manager. Permanent for this input.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orderhub.errors import OrderHubError
from orderhub.shopify.graphql import CostThrottle, GraphQL, call


@dataclass(frozen=True)
class UserError:
    message: str
    code: str | None = None
    field: tuple[str, ...] = ()


class Refused(OrderHubError):
    """Shopify refused the write (``userErrors``); retrying the same input cannot help."""

    def __init__(self, what: str, errors: Sequence[UserError]) -> None:
        self.errors = list(errors)
        super().__init__(f"{what}: " + "; ".join(e.message for e in self.errors))

    @property
    def codes(self) -> set[str]:
        return {e.code for e in self.errors if e.code}


@dataclass(frozen=True)
class ShopifyOrder:
    id: str  # gid://shopify/Order/N
    name: str | None = None
    cancelled: bool = False
    note: str | None = None
    tags: tuple[str, ...] = ()
    financial_status: str | None = None  # displayFinancialStatus: PENDING, PAID, ...

    @property
    def legacy_id(self) -> str:
        return self.id.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class OrderFulfilment:
    """What a shipment needs to know of a Shopify order."""

    id: str
    name: str | None = None
    cancelled: bool = False
    financial_status: str | None = None  # displayFinancialStatus
    fulfillment_status: str | None = None  # displayFulfillmentStatus: FULFILLED, ...
    open_fulfilment_orders: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShopifyCustomer:
    id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email_consent: dict[str, Any] | None = None
    sms_consent: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    address: dict[str, Any] | None = None  # defaultAddress (MailingAddress fields)
    addresses: int = 0  # how many addresses Shopify holds (counted up to 2)


FIND_ORDER = """
query orderhubFindOrder($query: String!) {
  orders(first: 1, query: $query) {
    nodes { id name cancelledAt note tags displayFinancialStatus }
  }
}
"""

ORDER_UPDATE = """
mutation orderhubOrderUpdate($input: OrderInput!) {
  orderUpdate(input: $input) { order { id } userErrors { field message } }
}
"""

ORDER_MARK_AS_PAID = """
mutation orderhubOrderMarkAsPaid($input: OrderMarkAsPaidInput!) {
  orderMarkAsPaid(input: $input) {
    order { id displayFinancialStatus }
    userErrors { field message }
  }
}
"""

ORDER_FULFILMENT = """
query orderhubOrderFulfilment($id: ID!) {
  order(id: $id) {
    id name cancelledAt displayFinancialStatus displayFulfillmentStatus
    fulfillmentOrders(first: 20) { nodes { id status } }
  }
}
"""

FULFILLMENT_CREATE = """
mutation orderhubFulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo { number company } }
    userErrors { field message }
  }
}
"""

# Order editing (issue 22, edit items): read the lines, begin, change, commit.
ORDER_LINES = """
query orderhubOrderLines($id: ID!) {
  order(id: $id) {
    id cancelledAt closedAt
    lineItems(first: 100) { nodes { id title sku currentQuantity variant { id } } }
  }
}
"""

ORDER_EDIT_BEGIN = """
mutation orderhubOrderEditBegin($id: ID!) {
  orderEditBegin(id: $id) {
    calculatedOrder {
      id
      lineItems(first: 100) { nodes { id title sku quantity editableQuantity variant { id } } }
    }
    userErrors { field message }
  }
}
"""

ORDER_EDIT_SET_QUANTITY = """
mutation orderhubOrderEditSetQuantity(
  $id: ID!, $lineItemId: ID!, $quantity: Int!, $restock: Boolean
) {
  orderEditSetQuantity(id: $id, lineItemId: $lineItemId, quantity: $quantity, restock: $restock) {
    calculatedLineItem { id quantity }
    userErrors { field message }
  }
}
"""

ORDER_EDIT_ADD_VARIANT = """
mutation orderhubOrderEditAddVariant($id: ID!, $variantId: ID!, $quantity: Int!) {
  orderEditAddVariant(id: $id, variantId: $variantId, quantity: $quantity, allowDuplicates: false) {
    calculatedLineItem { id quantity }
    userErrors { field message }
  }
}
"""

ORDER_EDIT_COMMIT = """
mutation orderhubOrderEditCommit($id: ID!, $notifyCustomer: Boolean, $staffNote: String) {
  orderEditCommit(id: $id, notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    order { id }
    userErrors { field message }
  }
}
"""


@dataclass(frozen=True)
class EditLine:
    """A line of a Shopify order (``LineItem``) or of an edit (``CalculatedLineItem``)."""

    id: str
    title: str
    quantity: int  # currentQuantity of a LineItem, quantity of a CalculatedLineItem
    sku: str | None = None
    variant_id: str | None = None  # gid://shopify/ProductVariant/N
    editable: int | None = None  # editableQuantity: what is not fulfilled


def _edit_lines(connection: dict[str, Any] | None, quantity: str) -> list[EditLine]:
    return [
        EditLine(
            id=str(n["id"]),
            title=str(n.get("title") or ""),
            quantity=int(n.get(quantity) or 0),
            sku=n.get("sku") or None,
            variant_id=str((n.get("variant") or {}).get("id") or "") or None,
            editable=n.get("editableQuantity"),
        )
        for n in (connection or {}).get("nodes") or []
    ]


#: Fulfilment orders that can still be fulfilled (Shopify's ``FulfillmentOrderStatus``).
FULFILLABLE = ("OPEN", "IN_PROGRESS")

FIND_VARIANTS = """
query orderhubVariantsBySku($query: String!, $first: Int!) {
  productVariants(first: $first, query: $query) { nodes { id sku } }
}
"""

ORDER_CREATE = """
mutation orderhubOrderCreate($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {
  orderCreate(order: $order, options: $options) {
    order { id name }
    userErrors { field message code }
  }
}
"""

ORDER_CANCEL = """
mutation orderhubOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $restock: Boolean!,
                             $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, restock: $restock,
              refundMethod: {originalPaymentMethodsRefund: false},
              notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id }
    orderCancelUserErrors { field message code }
  }
}
"""

CUSTOMER_FIELDS = """
  id firstName lastName tags note
  defaultAddress { address1 address2 city zip countryCodeV2 provinceCode }
  addressesV2(first: 2) { nodes { id } }
  defaultEmailAddress { emailAddress marketingState marketingOptInLevel marketingUpdatedAt }
  defaultPhoneNumber { phoneNumber smsMarketingConsent { state optInLevel updatedAt } }
"""

FIND_CUSTOMER = """
query orderhubFindCustomer($query: String!) {
  customers(first: 1, query: $query) { nodes { FIELDS } }
}
""".replace("FIELDS", CUSTOMER_FIELDS)

CUSTOMER_SET = """
mutation orderhubCustomerSet($identifier: CustomerSetIdentifiers, $input: CustomerSetInput!) {
  customerSet(identifier: $identifier, input: $input) {
    customer { FIELDS }
    userErrors { field message code }
  }
}
""".replace("FIELDS", CUSTOMER_FIELDS)

CUSTOMER_DELETE = """
mutation orderhubCustomerDelete($input: CustomerDeleteInput!) {
  customerDelete(input: $input) {
    deletedCustomerId
    userErrors { field message }
  }
}
"""

EMAIL_CONSENT = """
mutation orderhubEmailConsent($input: CustomerEmailMarketingConsentUpdateInput!) {
  customerEmailMarketingConsentUpdate(input: $input) {
    customer { id }
    userErrors { field message code }
  }
}
"""

SMS_CONSENT = """
mutation orderhubSmsConsent($input: CustomerSmsMarketingConsentUpdateInput!) {
  customerSmsMarketingConsentUpdate(input: $input) {
    customer { id }
    userErrors { field message code }
  }
}
"""


def _user_errors(payload: dict[str, Any], key: str = "userErrors") -> list[UserError]:
    return [
        UserError(
            message=str(e.get("message") or "refused"),
            code=str(e["code"]) if e.get("code") else None,
            field=tuple(str(f) for f in e.get("field") or ()),
        )
        for e in payload.get(key) or []
        if isinstance(e, dict)
    ]


def quoted(field_name: str, value: str) -> str:
    """A search term with its value quoted (e-mails and spaced phones are otherwise split)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field_name}:"{escaped}"'


def _customer(node: dict[str, Any] | None) -> ShopifyCustomer | None:
    if not node:
        return None
    return ShopifyCustomer(
        id=str(node["id"]),
        email=(node.get("defaultEmailAddress") or {}).get("emailAddress"),
        phone=(node.get("defaultPhoneNumber") or {}).get("phoneNumber"),
        first_name=node.get("firstName"),
        last_name=node.get("lastName"),
        tags=tuple(str(t) for t in node.get("tags") or ()),
        note=node.get("note"),
        address=node.get("defaultAddress"),
        addresses=len(((node.get("addressesV2") or {}).get("nodes")) or ()),
        email_consent=_email_consent(node.get("defaultEmailAddress")),
        sms_consent=_sms_consent(node.get("defaultPhoneNumber")),
    )


def _email_consent(address: dict[str, Any] | None) -> dict[str, Any] | None:
    """The e-mail's consent (2026-10: on ``defaultEmailAddress``), in the shape the consent
    mutations take: ``consentUpdatedAt`` is Shopify's ``marketingUpdatedAt``."""
    if not address or not address.get("marketingState"):
        return None
    return {
        "marketingState": address["marketingState"],
        "marketingOptInLevel": address.get("marketingOptInLevel"),
        "consentUpdatedAt": address.get("marketingUpdatedAt"),
    }


def _sms_consent(phone: dict[str, Any] | None) -> dict[str, Any] | None:
    """The phone's SMS consent (2026-10: ``defaultPhoneNumber.smsMarketingConsent``)."""
    consent = (phone or {}).get("smsMarketingConsent") or {}
    if not consent.get("state"):
        return None
    return {
        "marketingState": consent["state"],
        "marketingOptInLevel": consent.get("optInLevel"),
        "consentUpdatedAt": consent.get("updatedAt"),
    }


@dataclass
class PacedThrottle(CostThrottle):
    """``CostThrottle`` that waits for the *next* call's cost (a mutation costs more than
    the lookup before it) and counts what the bucket refilled since the last answer, so
    a backlog is paced below the bucket instead of bouncing off it with THROTTLED."""

    clock: Callable[[], float] = time.monotonic
    answered_at: float | None = None
    maximum: float | None = None
    next_cost: float | None = None

    def before_call(self) -> None:
        if self.available is None:
            return
        need = self.next_cost if self.next_cost is not None else self.last_cost
        elapsed = self.clock() - self.answered_at if self.answered_at is not None else 0.0
        have = self.available + elapsed * self.restore_rate
        if self.maximum is not None:
            have = min(have, self.maximum)
        if have >= need:
            return
        pause = (need - have) / max(self.restore_rate, 1.0)
        self.waited += pause
        self.sleep(pause)

    def after_call(self, body: dict[str, Any]) -> None:
        super().after_call(body)
        self.answered_at = self.clock()
        status = ((body.get("extensions") or {}).get("cost") or {}).get("throttleStatus") or {}
        if status.get("maximumAvailable") is not None:
            self.maximum = float(status["maximumAvailable"])


#: What a call is expected to cost before Shopify has told us (mutations: ~10 points).
DEFAULT_COST = 10.0


@dataclass
class ShopifyWriter:
    """One shop's Admin API for writing; ``throttle`` remembers that shop's bucket."""

    graphql: GraphQL
    throttle: CostThrottle
    calls: list[str] = field(default_factory=list)  # operation names, for the benchmark
    #: requestedQueryCost Shopify last charged per operation: the next call's estimate.
    costs: dict[str, float] = field(default_factory=dict)

    def _call(self, name: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(name)
        if isinstance(self.throttle, PacedThrottle):
            self.throttle.next_cost = self.costs.get(name, DEFAULT_COST)
        data: dict[str, Any] = call(self.graphql, self.throttle, query, variables)
        self.costs[name] = self.throttle.last_cost
        return data

    # ----------------------------------------------------------------- orders
    def _mutate(
        self, name: str, query: str, variables: dict[str, Any], *error_keys: str
    ) -> dict[str, Any]:
        """Run the mutation ``name`` and return its payload; ``Refused`` with Shopify's
        user errors (the first of ``error_keys`` that holds any; ``userErrors`` by default)."""
        payload = self._call(name, query, variables).get(name) or {}
        for key in error_keys or ("userErrors",):
            errors = _user_errors(payload, key)
            if errors:
                raise Refused(name, errors)
        return payload

    def find_order(self, search: str) -> ShopifyOrder | None:
        nodes = (self._call("orders", FIND_ORDER, {"query": search}).get("orders") or {}).get(
            "nodes"
        ) or []
        if not nodes:
            return None
        node = nodes[0]
        return ShopifyOrder(
            str(node["id"]),
            node.get("name"),
            bool(node.get("cancelledAt")),
            node.get("note"),
            tuple(str(t) for t in node.get("tags") or ()),
            node.get("displayFinancialStatus"),
        )

    def order_update(self, order_id: str, fields: dict[str, Any]) -> None:
        """``orderUpdate``: note, tags and shipping address (each overwrites Shopify's whole
        value)."""
        self._mutate("orderUpdate", ORDER_UPDATE, {"input": {"id": order_id, **fields}})

    def order_mark_as_paid(self, order_id: str) -> None:
        """``orderMarkAsPaid``: a sale for the outstanding amount (not when already paid)."""
        self._mutate("orderMarkAsPaid", ORDER_MARK_AS_PAID, {"input": {"id": order_id}})

    def order_fulfilment(self, order_id: str) -> OrderFulfilment | None:
        """The order's state for a shipment: cancelled, paid, and its fulfilment orders."""
        node = self._call("order", ORDER_FULFILMENT, {"id": order_id}).get("order")
        if not node:
            return None
        return OrderFulfilment(
            id=str(node["id"]),
            name=node.get("name"),
            cancelled=bool(node.get("cancelledAt")),
            financial_status=node.get("displayFinancialStatus"),
            fulfillment_status=node.get("displayFulfillmentStatus"),
            open_fulfilment_orders=tuple(
                str(n["id"])
                for n in (node.get("fulfillmentOrders") or {}).get("nodes") or []
                if n.get("status") in FULFILLABLE
            ),
        )

    def order_lines(self, order_id: str) -> tuple[str | None, list[EditLine]] | None:
        """The order's lines now (``currentQuantity``) and why it cannot be edited
        (cancelled or closed; ``None``: it can); ``None`` if there is no such order."""
        node = self._call("order", ORDER_LINES, {"id": order_id}).get("order")
        if not node:
            return None
        why = None
        if node.get("cancelledAt"):
            why = "the order is cancelled in Shopify"
        elif node.get("closedAt"):
            why = "the order is closed (archived) in Shopify"
        return why, _edit_lines(node.get("lineItems"), "currentQuantity")

    def order_edit_begin(self, order_id: str) -> tuple[str, list[EditLine]]:
        """``orderEditBegin``: the calculated order's id and its lines."""
        payload = self._mutate("orderEditBegin", ORDER_EDIT_BEGIN, {"id": order_id})
        calculated = payload.get("calculatedOrder")
        if not calculated:
            raise Refused("orderEditBegin", [UserError("no calculated order")])
        return str(calculated["id"]), _edit_lines(calculated.get("lineItems"), "quantity")

    def order_edit_set_quantity(self, calculated_id: str, line_id: str, quantity: int) -> None:
        """``orderEditSetQuantity`` (what is taken off goes back to stock)."""
        variables = {"id": calculated_id, "lineItemId": line_id, "quantity": quantity}
        self._mutate(
            "orderEditSetQuantity", ORDER_EDIT_SET_QUANTITY, {**variables, "restock": True}
        )

    def order_edit_add_variant(self, calculated_id: str, variant_id: str, quantity: int) -> None:
        variables = {"id": calculated_id, "variantId": variant_id, "quantity": quantity}
        self._mutate("orderEditAddVariant", ORDER_EDIT_ADD_VARIANT, variables)

    def order_edit_commit(self, calculated_id: str, *, staff_note: str) -> None:
        """``orderEditCommit`` without notifying the customer."""
        variables = {"id": calculated_id, "notifyCustomer": False, "staffNote": staff_note}
        self._mutate("orderEditCommit", ORDER_EDIT_COMMIT, variables)

    def fulfillment_create(
        self,
        fulfilment_orders: Sequence[str],
        *,
        tracking_number: str | None,
        tracking_company: str | None,
        notify_customer: bool,
    ) -> str:
        """``fulfillmentCreate``: every line of these fulfilment orders, with the tracking
        info (Shopify e-mails the customer when ``notify_customer``); the fulfilment's id."""
        tracking = {
            k: v for k, v in (("number", tracking_number), ("company", tracking_company)) if v
        }
        fulfillment: dict[str, Any] = {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": f} for f in fulfilment_orders],
            "notifyCustomer": notify_customer,
        }
        if tracking:
            fulfillment["trackingInfo"] = tracking
        payload = self._mutate(
            "fulfillmentCreate", FULFILLMENT_CREATE, {"fulfillment": fulfillment}
        )
        created = payload.get("fulfillment") or {}
        if not created.get("id"):
            raise Refused("fulfillmentCreate", [UserError("Shopify created no fulfilment")])
        return str(created["id"])

    def variants_by_sku(self, skus: Sequence[str]) -> dict[str, str]:
        """SKU → variant gid for the SKUs Shopify knows (one query for all of them)."""
        wanted = sorted({s for s in skus if s})
        if not wanted:
            return {}
        query = " OR ".join(quoted("sku", s) for s in wanted)
        data = self._call(
            "productVariants", FIND_VARIANTS, {"query": query, "first": min(250, 4 * len(wanted))}
        )
        found: dict[str, str] = {}
        for node in (data.get("productVariants") or {}).get("nodes") or []:
            sku = node.get("sku")
            if sku in wanted and sku not in found:
                found[sku] = str(node["id"])
        return found

    def order_create(self, order: dict[str, Any], options: dict[str, Any]) -> ShopifyOrder:
        payload = self._mutate("orderCreate", ORDER_CREATE, {"order": order, "options": options})
        created = payload.get("order")
        if not created or not created.get("id"):
            raise Refused("orderCreate", [UserError("Shopify created no order")])
        return ShopifyOrder(str(created["id"]), created.get("name"))

    def order_cancel(self, order_id: str, *, reason: str, restock: bool, note: str | None) -> None:
        variables = {
            "orderId": order_id,
            "reason": reason,
            "restock": restock,
            "notifyCustomer": False,
            "staffNote": note,
        }
        self._mutate("orderCancel", ORDER_CANCEL, variables, "orderCancelUserErrors", "userErrors")

    # -------------------------------------------------------------- customers
    def find_customer(self, search: str) -> ShopifyCustomer | None:
        data = self._call("customers", FIND_CUSTOMER, {"query": search})
        nodes = (data.get("customers") or {}).get("nodes") or []
        return _customer(nodes[0]) if nodes else None

    def customer_set(
        self, identifier: dict[str, Any] | None, customer: dict[str, Any]
    ) -> ShopifyCustomer:
        variables = {"identifier": identifier, "input": customer}
        payload = self._mutate("customerSet", CUSTOMER_SET, variables)
        found = _customer(payload.get("customer"))
        if found is None:
            raise Refused("customerSet", [UserError("Shopify returned no customer")])
        return found

    def customer_delete(self, customer_id: str) -> None:
        """Delete a Shopify customer (only when the owner asked for it); ``Refused`` with
        Shopify's words (a customer with orders cannot be deleted)."""
        variables = {"input": {"id": customer_id}}
        self._mutate("customerDelete", CUSTOMER_DELETE, variables)

    def consent_update(self, channel: str, customer_id: str, consent: dict[str, Any]) -> None:
        if channel == "email":
            name, query, key = "customerEmailMarketingConsentUpdate", EMAIL_CONSENT, "email"
        else:
            name, query, key = "customerSmsMarketingConsentUpdate", SMS_CONSENT, "sms"
        variables = {"input": {"customerId": customer_id, f"{key}MarketingConsent": consent}}
        self._mutate(name, query, variables)

    # ---------------------------------------------------------------- products

    def find_product(self, search: str) -> ShopifyProduct | None:
        data = self._call("products", FIND_PRODUCT, {"query": search})
        nodes = (data.get("products") or {}).get("nodes") or []
        return _product(nodes[0]) if nodes else None

    def product(self, product_id: str) -> ShopifyProduct | None:
        return _product(self._call("node", PRODUCT_BY_ID, {"id": product_id}).get("node"))

    def product_set(
        self, identifier: dict[str, Any] | None, product: dict[str, Any]
    ) -> ShopifyProduct:
        """``productSet`` (synchronous): create, or update the product ``identifier`` names;
        the variants given replace the product's (set semantics)."""
        variables = {"identifier": identifier, "input": product}
        payload = self._mutate("productSet", PRODUCT_SET, variables)
        found = _product(payload.get("product"))
        if found is None:
            raise Refused("productSet", [UserError("Shopify returned no product")])
        return found

    def product_delete(self, product_id: str) -> None:
        """``productDelete``: only when the owner asked for it (a CRM delete unlinks)."""
        self._mutate("productDelete", PRODUCT_DELETE, {"input": {"id": product_id}})

    def locations(self) -> list[Location]:
        data = self._call("locations", LOCATIONS, {})
        return [
            Location(str(n["id"]), str(n.get("name") or ""), bool(n.get("isActive", True)))
            for n in (data.get("locations") or {}).get("nodes") or []
        ]

    def inventory_set(self, quantities: Sequence[dict[str, Any]], *, key: str) -> None:
        """``inventorySetQuantities`` of ``available`` (reason ``correction``) with the
        idempotency key Shopify requires since 2026-04: a retried call is applied once.
        Each quantity: ``inventoryItemId``, ``locationId``, ``quantity`` and
        ``changeFromQuantity`` (what the owner saw; ``None`` opts out of the compare)."""
        variables = {
            "input": {"name": "available", "reason": "correction", "quantities": list(quantities)},
            "key": key,
        }
        self._mutate("inventorySetQuantities", INVENTORY_SET, variables)


# ------------------------------------------------------------------- products
PRODUCT_FIELDS = """
  id title handle tags updatedAt
  variants(first: 100) { nodes { id sku price compareAtPrice barcode inventoryItem { id } } }
"""

FIND_PRODUCT = """
query orderhubFindProduct($query: String!) {
  products(first: 1, query: $query) { nodes { FIELDS } }
}
""".replace("FIELDS", PRODUCT_FIELDS)

PRODUCT_BY_ID = """
query orderhubProduct($id: ID!) {
  node(id: $id) { ... on Product { FIELDS } }
}
""".replace("FIELDS", PRODUCT_FIELDS)

PRODUCT_SET = """
mutation orderhubProductSet($identifier: ProductSetIdentifiers, $input: ProductSetInput!) {
  productSet(identifier: $identifier, input: $input, synchronous: true) {
    product { FIELDS }
    userErrors { field message code }
  }
}
""".replace("FIELDS", PRODUCT_FIELDS)

PRODUCT_DELETE = """
mutation orderhubProductDelete($input: ProductDeleteInput!) {
  productDelete(input: $input, synchronous: true) {
    deletedProductId
    userErrors { field message }
  }
}
"""

LOCATIONS = """
query orderhubLocations {
  locations(first: 50) { nodes { id name isActive } }
}
"""

INVENTORY_SET = """
mutation orderhubInventorySet($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id }
    userErrors { field message code }
  }
}
"""


@dataclass(frozen=True)
class ShopifyVariant:
    id: str
    sku: str | None = None
    price: str | None = None
    compare_at_price: str | None = None
    barcode: str | None = None
    inventory_item_id: str | None = None


@dataclass(frozen=True)
class ShopifyProduct:
    id: str  # gid://shopify/Product/N
    title: str | None = None
    handle: str | None = None
    tags: tuple[str, ...] = ()
    variants: tuple[ShopifyVariant, ...] = ()

    @property
    def legacy_id(self) -> str:
        return self.id.rsplit("/", 1)[-1]


def _product(node: dict[str, Any] | None) -> ShopifyProduct | None:
    if not node or not node.get("id"):
        return None
    return ShopifyProduct(
        id=str(node["id"]),
        title=node.get("title"),
        handle=node.get("handle"),
        tags=tuple(str(t) for t in node.get("tags") or ()),
        variants=tuple(
            ShopifyVariant(
                id=str(v["id"]),
                sku=v.get("sku"),
                price=v.get("price"),
                compare_at_price=v.get("compareAtPrice"),
                barcode=v.get("barcode"),
                inventory_item_id=(v.get("inventoryItem") or {}).get("id"),
            )
            for v in (node.get("variants") or {}).get("nodes") or []
        ),
    )


@dataclass(frozen=True)
class Location:
    id: str
    name: str
    active: bool = True
