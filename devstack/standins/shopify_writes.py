"""What the Shopify stand-in does for ``shopify_sync``'s writes, and the webhooks it sends back.

Installed on a ``ShopifyAdminStandIn`` by ``install``. It answers, as Shopify documents:

* ``orderCreate(order:, options:)``: checks the input (``INVALID`` userErrors for a bad
  variant, a custom line without title or price, a phone that is not E.164), records the
  order in the shop (so reads and reconciliation see it), decrements stock of variant lines
  unless ``inventoryBehaviour`` is ``BYPASS`` (Shopify's default), and sends the
  ``orders/create`` webhook Shopify would send;
* ``orderCancel``: cancels, restocks, sends ``orders/cancelled``;
* ``order(id:)`` with ``fulfillmentOrders`` (one per order, open until fulfilled) and
  ``fulfillmentCreate(fulfillment: FulfillmentInput!)`` with ``trackingInfo``: fulfils the
  open fulfilment orders of one order, refuses closed or unknown ones, a cancelled order,
  and sends ``orders/fulfilled``;
* ``orders(query: "source_identifier:\\"…\\"")`` (as late as the index lag the fault
  ``lag:<seconds>`` on ``orders`` sets) and ``customers(query: "email:\\"…\\"")``:
  quoted-value search (other queries go to the shop's paging as before);
* ``productVariants(query: "sku:\\"…\\" OR …")``;
* ``customerSet(identifier:, input:)``: upsert by e-mail, phone or id; a phone or e-mail of
  another customer gives ``TAKEN``; ``addresses`` replaces the list, as Shopify says;
* ``customerEmailMarketingConsentUpdate`` / ``customerSmsMarketingConsentUpdate``: the
  record with the newest ``consentUpdatedAt`` is kept;
* order editing (``orderEditBegin`` … ``orderEditCommit``): ``shopify_order_edits``.

Each write is paid from the shop's cost bucket (10 points), so ``THROTTLED`` is real. A
cap of new orders a minute (``orders_per_minute``, trial and development shops: 5) refuses
the excess with a THROTTLED error (assumed shape: Shopify documents the cap, not its
answer). Webhooks go to ``webhook_url``, signed with ``webhook_secret`` like Shopify's
(base64 HMAC-SHA256 of the body), from a background thread; tests read what was sent at
``GET /_standin/webhooks_sent`` and the faults they inject with ``POST /_standin/fault``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from devstack.standins import shopify_order_edits, shopify_products
from devstack.standins.shopify_store import Throttled, contact_fields

APP_ID = 9876543  # our app's id here (``app_id`` of orders we create); devstack.stack knows it
MUTATION_COST = 10.0
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
QUOTED = re.compile(r'(\w+):"((?:[^"\\]|\\.)*)"')


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _terms(query: str) -> list[tuple[str, str]]:
    return [(k, v.replace('\\"', '"').replace("\\\\", "\\")) for k, v in QUOTED.findall(query)]


def _user_error(field: list[str], message: str, code: str) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}


class Writes:
    """The stand-in's write side: state, handlers and the webhook sender."""

    def __init__(
        self,
        standin: Any,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.standin = standin
        self.shop = standin.shop  # ShopifyStore
        self.domain = standin.store.shop
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.api_version = standin.api_version  # what webhooks say in X-Shopify-API-Version
        self.lock = threading.RLock()
        self.orders: dict[str, dict[str, Any]] = {}  # gid → REST payload
        self.customers: dict[str, dict[str, Any]] = {}  # gid → node
        self.sent: list[dict[str, Any]] = []  # webhooks sent: topic, id, status
        self.counts: dict[str, int] = {}  # mutation → calls answered (incl. refusals)
        self.refused: dict[str, int] = {}  # mutation → refusals (userErrors/throttled)
        self.orders_per_minute = 0.0
        self._created_at: deque[float] = deque()
        #: field → list of pending faults: "slow:<seconds>" (answer late, after the write)
        self.faults: dict[str, list[str]] = {}
        self._next = 5000
        #: gid → when the order was created (monotonic): searches see it ``search_lag`` later
        self.indexed_at: dict[str, float] = {}
        self.fulfilment_orders: dict[str, list[dict[str, Any]]] = {}  # order gid → its
        self.fulfilments: list[dict[str, Any]] = []  # fulfilments made, with tracking
        self.products: Any = None  # shopify_products.Products, set by install
        self.order_edits: Any = None  # shopify_order_edits.OrderEdits, set by install

    # ------------------------------------------------------------------ helpers
    def _id(self) -> int:
        with self.lock:
            self._next += 1
            return self._next

    def _count(self, name: str, refused: bool = False) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
            if refused:
                self.refused[name] = self.refused.get(name, 0) + 1

    def _fault(self, name: str) -> float:
        with self.lock:
            pending = self.faults.get(name) or []
            if not pending:
                return 0.0
            fault = pending.pop(0)
        return float(fault.split(":", 1)[1]) if fault.startswith("slow:") else 0.0

    def search_lag(self) -> float:
        """Seconds Shopify's search index lags behind a new order: the fault
        ``{"field": "orders", "fault": "lag:30"}`` (kept, not used up; ``lag:0`` ends it)."""
        with self.lock:
            lags = [f for f in self.faults.get("orders") or [] if f.startswith("lag:")]
        return float(lags[-1].split(":", 1)[1]) if lags else 0.0

    def _variant(self, gid: str) -> dict[str, Any] | None:
        for product in self.shop.nodes["products"].values():
            for variant in product.get("variants") or []:
                if variant.get("id") == gid:
                    return {**variant, "_product": product}
        return None

    # ------------------------------------------------------------------ reads
    def orders_field(self, args: dict[str, Any], store: Any) -> Any:
        query = str(args.get("query") or "")
        wanted = dict(_terms(query)).get("source_identifier")
        if wanted is None:
            return self.shop.field("orders", args)
        lag = self.search_lag()
        with self.lock:
            nodes = [
                self.shop.nodes["orders"][gid]
                for gid, rest in self.orders.items()
                if rest.get("source_identifier") == wanted
                and time.monotonic() - self.indexed_at.get(gid, 0.0) >= lag
            ]
        return {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}

    def customers_field(self, args: dict[str, Any], store: Any) -> Any:
        terms = _terms(str(args.get("query") or ""))
        if not terms:
            return self.shop.field("customers", args)
        key, value = terms[0]
        found = self._find_customer(key, value)
        return {"nodes": [found] if found else [], "pageInfo": {"hasNextPage": False}}

    def product_variants(self, args: dict[str, Any], store: Any) -> Any:
        self.shop.charge(2.0 + int(args.get("first") or 10))
        skus = {v for k, v in _terms(str(args.get("query") or "")) if k == "sku"}
        nodes = [
            {"id": v["id"], "sku": v.get("sku"), "inventoryQuantity": v.get("inventoryQuantity")}
            for product in self.shop.nodes["products"].values()
            for v in product.get("variants") or []
            if v.get("sku") in skus
        ]
        return {"nodes": nodes[: int(args.get("first") or 10)]}

    def _find_customer(self, key: str, value: str) -> dict[str, Any] | None:
        with self.lock:
            for node in self.customers.values():
                if key == "email" and (node.get("email") or "").lower() == value.lower():
                    return node
                if key == "phone" and node.get("phone") == value:
                    return node
                if key == "id" and node.get("id") == value:
                    return node
        return None

    # ----------------------------------------------------------------- orders
    def order_create(self, args: dict[str, Any], store: Any) -> Any:
        self.shop.charge(MUTATION_COST)
        order = args.get("order") or {}
        options = args.get("options") or {}
        errors: list[dict[str, Any]] = []
        lines = order.get("lineItems") or []
        if not lines:
            errors.append(
                _user_error(["order", "lineItems"], "Line items can't be blank", "INVALID")
            )
        currency = str(order.get("currency") or "USD")
        rest_lines: list[dict[str, Any]] = []
        total = Decimal("0")
        for index, line in enumerate(lines):
            field = ["order", "lineItems", str(index)]
            quantity = line.get("quantity")
            price = ((line.get("priceSet") or {}).get("shopMoney") or {}).get("amount")
            variant = None
            if line.get("variantId"):
                variant = self._variant(str(line["variantId"]))
                if variant is None:
                    errors.append(
                        _user_error([*field, "variantId"], "Variant does not exist", "INVALID")
                    )
                    continue
                price = price if price is not None else variant.get("price")
            elif not line.get("title"):
                errors.append(_user_error([*field, "title"], "Title can't be blank", "INVALID"))
                continue
            try:
                amount = Decimal(str(price))
            except (InvalidOperation, TypeError):
                errors.append(_user_error([*field, "priceSet"], "Price can't be blank", "INVALID"))
                continue
            if not isinstance(quantity, int) or quantity < 1:
                errors.append(
                    _user_error([*field, "quantity"], "Quantity must be at least 1", "INVALID")
                )
                continue
            total += amount * quantity
            rest_lines.append(
                {
                    "id": self._id(),
                    "variant_id": int(str(variant["id"]).rsplit("/", 1)[-1]) if variant else None,
                    "product_id": int(str(variant["_product"]["id"]).rsplit("/", 1)[-1])
                    if variant
                    else None,
                    "sku": line.get("sku") or (variant or {}).get("sku"),
                    "title": line.get("title") or (variant or {}).get("_product", {}).get("title"),
                    "variant_title": line.get("variantTitle") or (variant or {}).get("title"),
                    "quantity": quantity,
                    "current_quantity": quantity,
                    "fulfillable_quantity": quantity,
                    "price": str(amount),
                    "total_discount": "0.00",
                }
            )
        for key in ("phone",):
            if order.get(key) and not E164.match(str(order[key])):
                errors.append(_user_error(["order", key], "Phone is invalid", "INVALID"))
        if order.get("email") and not EMAIL.match(str(order["email"])):
            errors.append(_user_error(["order", "email"], "Email is invalid", "INVALID"))
        customer_input = order.get("customer") or {}
        customer = None
        if customer_input.get("toAssociate"):
            customer = self._find_customer("id", str(customer_input["toAssociate"].get("id")))
            if customer is None:
                errors.append(
                    _user_error(["order", "customer"], "Customer does not exist", "INVALID")
                )
        paid_status, transaction_errors = _transactions(order, currency, total)
        errors += transaction_errors
        if errors:
            self._count("orderCreate", refused=True)
            return {"order": None, "userErrors": errors}
        if self.orders_per_minute > 0:
            now = time.monotonic()
            with self.lock:
                while self._created_at and now - self._created_at[0] > 60:
                    self._created_at.popleft()
                if len(self._created_at) >= self.orders_per_minute:
                    self._count("orderCreate", refused=True)
                    raise OrderCapReached
                self._created_at.append(now)
        if options.get("inventoryBehaviour", "BYPASS") != "BYPASS":
            self._decrement(lines, -1)
        shipping = sum(
            (
                Decimal(str(((s.get("priceSet") or {}).get("shopMoney") or {}).get("amount") or 0))
                for s in order.get("shippingLines") or []
            ),
            Decimal("0"),
        )
        discount = Decimal(
            str(
                (
                    (
                        ((order.get("discountCode") or {}).get("itemFixedDiscountCode") or {}).get(
                            "amountSet"
                        )
                        or {}
                    ).get("shopMoney")
                    or {}
                ).get("amount")
                or 0
            )
        )
        number = self._id()
        stamp = _now()
        address = order.get("shippingAddress") or None
        rest: dict[str, Any] = {
            "id": number,
            "admin_graphql_api_id": f"gid://shopify/Order/{number}",
            "app_id": APP_ID,
            "name": f"#{number}",
            "order_number": number,
            "email": order.get("email"),
            "phone": order.get("phone"),
            "created_at": stamp,
            "updated_at": stamp,
            "processed_at": order.get("processedAt") or stamp,
            "cancelled_at": None,
            "cancel_reason": None,
            "closed_at": None,
            "currency": currency,
            "presentment_currency": currency,
            "financial_status": paid_status
            or str(order.get("financialStatus") or "PENDING").lower(),
            "transactions": [
                {
                    "kind": str(t.get("kind") or "SALE").lower(),
                    "status": str(t.get("status") or "SUCCESS").lower(),
                    "gateway": t.get("gateway"),
                    "amount": str(t["amountSet"]["shopMoney"]["amount"]),
                    "currency": t["amountSet"]["shopMoney"]["currencyCode"],
                    "processed_at": t.get("processedAt"),
                }
                for t in order.get("transactions") or []
            ],
            "fulfillment_status": None,
            "subtotal_price": str(total),
            "total_tax": "0.00",
            "total_discounts": str(discount),
            "total_price": str(total + shipping - discount),
            "line_items": rest_lines,
            "shipping_lines": [
                {
                    "title": s.get("title"),
                    "price": ((s.get("priceSet") or {}).get("shopMoney") or {}).get("amount"),
                }
                for s in order.get("shippingLines") or []
            ],
            "shipping_address": _order_address(address),
            "customer": {
                "id": int(str(customer["id"]).rsplit("/", 1)[-1]),
                "email": customer.get("email"),
                "phone": customer.get("phone"),
                "first_name": customer.get("firstName"),
                "last_name": customer.get("lastName"),
            }
            if customer
            else None,
            "tags": ", ".join(order.get("tags") or []),
            "note": order.get("note"),
            "note_attributes": [
                {"name": a.get("key"), "value": a.get("value")}
                for a in order.get("customAttributes") or []
            ],
            "source_identifier": order.get("sourceIdentifier"),
            "source_name": order.get("sourceName") or str(APP_ID),
            "send_receipt": bool(options.get("sendReceipt", False)),
            "inventory_behaviour": options.get("inventoryBehaviour", "BYPASS"),
        }
        with self.lock:
            self.orders[rest["admin_graphql_api_id"]] = rest
            self.indexed_at[rest["admin_graphql_api_id"]] = time.monotonic()
        self.shop.put_order(rest)
        self._count("orderCreate")
        self.send("orders/create", rest)
        late = self._fault("orderCreate")
        if late:
            time.sleep(late)  # the order exists; the answer comes after the caller gave up
        return {"order": self.shop.nodes["orders"][rest["admin_graphql_api_id"]], "userErrors": []}

    def _decrement(self, lines: list[dict[str, Any]], sign: int) -> None:
        with self.lock:
            for line in lines:
                variant = self._variant(str(line.get("variantId") or ""))
                if variant is None:
                    continue
                for v in variant["_product"].get("variants") or []:
                    if v["id"] == variant["id"]:
                        v["inventoryQuantity"] = int(v.get("inventoryQuantity") or 0) + sign * int(
                            line.get("quantity") or 0
                        )

    def order_cancel(self, args: dict[str, Any], store: Any) -> Any:
        self.shop.charge(MUTATION_COST)
        gid = str(args.get("orderId"))
        with self.lock:
            rest = self.orders.get(gid)
        if rest is None:
            self._count("orderCancel", refused=True)
            return {
                "job": None,
                "orderCancelUserErrors": [
                    _user_error(["orderId"], "Order does not exist", "NOT_FOUND")
                ],
            }
        if rest.get("cancelled_at"):
            self._count("orderCancel", refused=True)
            return {
                "job": None,
                "orderCancelUserErrors": [
                    _user_error(["orderId"], "Order has already been cancelled", "INVALID")
                ],
            }
        stamp = _now()
        rest.update(
            cancelled_at=stamp,
            updated_at=stamp,
            cancel_reason=str(args.get("reason") or "other").lower(),
        )
        if args.get("restock"):
            lines = [
                {
                    "variantId": f"gid://shopify/ProductVariant/{li['variant_id']}",
                    "quantity": li["quantity"],
                }
                for li in rest["line_items"]
                if li.get("variant_id")
            ]
            if rest.get("inventory_behaviour", "BYPASS") != "BYPASS":
                self._decrement(lines, +1)
        self.shop.put_order(rest)
        self._count("orderCancel")
        self.send("orders/cancelled", rest)
        return {
            "job": {"id": f"gid://shopify/Job/{uuid.uuid4()}"},
            "orderCancelUserErrors": [],
            "userErrors": [],
        }

    def _order_for_write(self, name: str, gid: str) -> dict[str, Any] | dict[str, list[Any]]:
        with self.lock:
            rest = self.orders.get(gid)
        if rest is None:
            self._count(name, refused=True)
            return {"userErrors": [_user_error(["id"], "Order does not exist", "NOT_FOUND")]}
        return rest

    def order_update(self, args: dict[str, Any], store: Any) -> Any:
        """``orderUpdate``: note, tags and the shipping address overwrite; Shopify then sends
        ``orders/updated``."""
        self.shop.charge(MUTATION_COST)
        data = args.get("input") or {}
        rest = self._order_for_write("orderUpdate", str(data.get("id")))
        if "userErrors" in rest:
            return {"order": None, **rest}
        with self.lock:
            if "note" in data:
                rest["note"] = data["note"] or None
            if "tags" in data:
                rest["tags"] = ", ".join(str(t) for t in data["tags"] or [])
            if data.get("shippingAddress"):
                rest["shipping_address"] = _order_address(data["shippingAddress"])
            rest["updated_at"] = _now()
        self.shop.put_order(rest)
        self._count("orderUpdate")
        self.send("orders/updated", rest)
        return {"order": {"id": data["id"]}, "userErrors": []}

    def order_mark_as_paid(self, args: dict[str, Any], store: Any) -> Any:
        """``orderMarkAsPaid``: refused for an order already paid; else ``orders/paid``."""
        self.shop.charge(MUTATION_COST)
        gid = str((args.get("input") or {}).get("id"))
        rest = self._order_for_write("orderMarkAsPaid", gid)
        if "userErrors" in rest:
            return {"order": None, **rest}
        if rest.get("financial_status") == "paid":
            self._count("orderMarkAsPaid", refused=True)
            error = _user_error(["id"], "Order has already been paid", "INVALID")
            return {"order": None, "userErrors": [error]}
        with self.lock:
            rest["financial_status"] = "paid"
            rest["updated_at"] = _now()
        self.shop.put_order(rest)
        self._count("orderMarkAsPaid")
        self.send("orders/paid", rest)
        return {"order": {"id": gid, "displayFinancialStatus": "PAID"}, "userErrors": []}

    # ------------------------------------------------------------ fulfilments
    def _fulfilment_orders(self, gid: str, rest: dict[str, Any]) -> list[dict[str, Any]]:
        """The order's fulfilment orders: one per order here, made on first sight (Shopify
        makes them when the order is created); closed once fulfilled."""
        with self.lock:
            found = self.fulfilment_orders.get(gid)
            if found is None:
                status = "CLOSED" if rest.get("fulfillment_status") == "fulfilled" else "OPEN"
                found = [
                    {
                        "id": f"gid://shopify/FulfillmentOrder/{self._id()}",
                        "status": "CANCELLED" if rest.get("cancelled_at") else status,
                        "orderId": gid,
                    }
                ]
                self.fulfilment_orders[gid] = found
            return found

    def _rest_order(self, gid: str) -> dict[str, Any] | None:
        with self.lock:
            return self.orders.get(gid)

    def order_field(self, args: dict[str, Any], store: Any) -> Any:
        """``order(id:)``: the order node with its ``fulfillmentOrders``; null if unknown."""
        gid = str(args.get("id"))
        rest = self._rest_order(gid)
        if rest is None:
            return None
        node = dict(self.shop.nodes["orders"][gid])
        node["fulfillmentOrders"] = {
            "nodes": self._fulfilment_orders(gid, rest),
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }
        return node

    def fulfillment_create(self, args: dict[str, Any], store: Any) -> Any:
        """``fulfillmentCreate(fulfillment: FulfillmentInput!)``: every line of the named
        fulfilment orders (those must be open, of one order, not cancelled), with
        ``trackingInfo``; the order becomes fulfilled and ``orders/fulfilled`` is sent."""
        self.shop.charge(MUTATION_COST)
        data = args.get("fulfillment") or {}
        wanted = [
            str(item.get("fulfillmentOrderId"))
            for item in data.get("lineItemsByFulfillmentOrder") or []
        ]

        def refuse(field: list[str], message: str) -> Any:
            self._count("fulfillmentCreate", refused=True)
            return {"fulfillment": None, "userErrors": [{"field": field, "message": message}]}

        if not wanted:
            return refuse(["fulfillment", "lineItemsByFulfillmentOrder"], "Line items required")
        with self.lock:
            owners = {
                fo["id"]: (gid, fo)
                for gid, fos in self.fulfilment_orders.items()
                for fo in fos
                if fo["id"] in wanted
            }
        if len(owners) != len(set(wanted)):
            return refuse(["fulfillment"], "Fulfillment order does not exist.")
        orders = {gid for gid, _ in owners.values()}
        if len(orders) != 1:
            return refuse(["fulfillment"], "Fulfillment orders must belong to the same order.")
        (gid,) = orders
        if any(fo["status"] not in ("OPEN", "IN_PROGRESS") for _, fo in owners.values()):
            return refuse(["fulfillment"], "Fulfillment order is not in a fulfillable state.")
        rest = self._rest_order(gid)
        if rest is None or rest.get("cancelled_at"):
            return refuse(["fulfillment"], "The order is cancelled.")
        tracking = data.get("trackingInfo") or {}
        fulfilment = {
            "id": f"gid://shopify/Fulfillment/{self._id()}",
            "status": "SUCCESS",
            "orderId": gid,
            "trackingInfo": [
                {"number": tracking.get("number"), "company": tracking.get("company")}
            ],
            "notifyCustomer": bool(data.get("notifyCustomer")),
        }
        stamp = _now()
        with self.lock:
            for _, fo in owners.values():
                fo["status"] = "CLOSED"
            self.fulfilments.append(fulfilment)
            for line in rest.get("line_items") or []:
                line["fulfillable_quantity"] = 0
            rest["fulfillment_status"] = "fulfilled"
            rest["updated_at"] = stamp
            rest.setdefault("fulfillments", []).append(
                {
                    "id": int(fulfilment["id"].rsplit("/", 1)[-1]),
                    "status": "success",
                    "tracking_number": tracking.get("number"),
                    "tracking_company": tracking.get("company"),
                    "created_at": stamp,
                }
            )
        self.shop.put_order(rest)
        self._count("fulfillmentCreate")
        self.send("orders/fulfilled", rest)
        return {"fulfillment": fulfilment, "userErrors": []}

    # -------------------------------------------------------------- customers
    def customer_set(self, args: dict[str, Any], store: Any) -> Any:
        self.shop.charge(MUTATION_COST)
        identifier = args.get("identifier") or {}
        data = args.get("input") or {}
        errors = []
        if data.get("phone") and not E164.match(str(data["phone"])):
            errors.append(_user_error(["input", "phone"], "Phone is invalid", "INVALID"))
        if data.get("email") and not EMAIL.match(str(data["email"])):
            errors.append(_user_error(["input", "email"], "Email is invalid", "INVALID"))
        key, value = next(iter(identifier.items()), (None, None))
        target = self._find_customer(str(key), str(value)) if key else None
        for field, label in (("email", "Email"), ("phone", "Phone")):
            if data.get(field):
                owner = self._find_customer(field, str(data[field]))
                if owner is not None and owner is not target:
                    errors.append(
                        _user_error(["input", field], f"{label} has already been taken", "TAKEN")
                    )
        errors += _customer_list_errors(data)
        if errors:
            self._count("customerSet", refused=True)
            return {"customer": None, "userErrors": errors}
        stamp = _now()
        topic = "customers/update"
        if target is None:
            number = self._id()
            topic = "customers/create"
            target = {
                "id": f"gid://shopify/Customer/{number}",
                "legacyResourceId": str(number),
                "createdAt": stamp,
                "emailMarketingConsent": None,
                "smsMarketingConsent": None,
                "addresses": [],
            }
        for field, node_key in (
            ("email", "email"),
            ("phone", "phone"),
            ("firstName", "firstName"),
            ("lastName", "lastName"),
        ):
            if field in data:
                target[node_key] = data[field]
        if "tags" in data:  # replaces the customer's tags, as Shopify does
            target["tags"] = sorted({str(t).strip() for t in data["tags"] or [] if str(t).strip()})
        if "note" in data:
            target["note"] = data["note"]
        if "addresses" in data:
            target["addresses"] = list(data["addresses"] or [])  # replaces: omitted ones go
            target["addressesV2"] = [
                {
                    **a,
                    "id": a.get("id") or f"gid://shopify/MailingAddress/{self._id()}",
                    "countryCodeV2": a.get("countryCode"),
                }
                for a in target["addresses"]
            ]
            target["defaultAddress"] = target["addressesV2"][0] if target["addressesV2"] else None
        self._store_customer(target, stamp)
        self._count("customerSet")
        self.send(topic, self.customer_rest(target))
        return {"customer": target, "userErrors": []}

    def customer_delete(self, args: dict[str, Any], store: Any) -> Any:
        """``customerDelete``: Shopify refuses a customer who has orders."""
        self.shop.charge(MUTATION_COST)
        gid = str((args.get("input") or {}).get("id"))
        node = self._find_customer("id", gid)
        legacy = gid.rsplit("/", 1)[-1]
        problem = None
        if node is None:
            problem = "Customer can't be found"
        else:
            with self.lock:
                has_orders = any(
                    str((o.get("customer") or {}).get("id")) == legacy for o in self.orders.values()
                )
            if has_orders:
                problem = "Customer can't be deleted because they have associated orders"
        if problem:
            self._count("customerDelete", refused=True)
            return {
                "deletedCustomerId": None,
                "userErrors": [{"field": ["id"], "message": problem}],
            }
        with self.lock:
            self.customers.pop(gid, None)
        self.shop.delete("customers", legacy)
        self._count("customerDelete")
        self.send("customers/delete", {"id": int(legacy)})
        return {"deletedCustomerId": gid, "userErrors": []}

    def _store_customer(self, node: dict[str, Any], stamp: str) -> None:
        node["updatedAt"] = stamp
        node.update(
            contact_fields(
                node.get("email"),
                node.get("phone"),
                node.get("emailMarketingConsent"),
                node.get("smsMarketingConsent"),
            )
        )
        with self.lock:
            self.customers[node["id"]] = node
            self.shop.put("customers", {**node, "tags": list(node.get("tags") or [])})

    def customer_rest(self, node: dict[str, Any]) -> dict[str, Any]:
        def consent(value: Any, key: str) -> Any:
            if not value:
                return None
            return {
                "state": str(value.get("marketingState") or "").lower(),
                "opt_in_level": str(value.get("marketingOptInLevel") or "").lower() or None,
                "consent_updated_at": value.get("consentUpdatedAt"),
            }

        return {
            "id": int(node["legacyResourceId"]),
            "admin_graphql_api_id": node["id"],
            "email": node.get("email"),
            "phone": node.get("phone"),
            "first_name": node.get("firstName"),
            "last_name": node.get("lastName"),
            "created_at": node.get("createdAt"),
            "updated_at": node.get("updatedAt"),
            "tags": ", ".join(node.get("tags") or []),
            "note": node.get("note"),
            "default_address": _address_rest(node.get("defaultAddress")),
            "email_marketing_consent": consent(node.get("emailMarketingConsent"), "email"),
            "sms_marketing_consent": consent(node.get("smsMarketingConsent"), "sms"),
            "addresses": node.get("addresses") or [],
        }

    def consent(self, channel: str) -> Any:
        name = f"customer{'Email' if channel == 'email' else 'Sms'}MarketingConsentUpdate"
        key = f"{channel}MarketingConsent"

        def handler(args: dict[str, Any], store: Any) -> Any:
            self.shop.charge(MUTATION_COST)
            data = args.get("input") or {}
            node = self._find_customer("id", str(data.get("customerId")))
            wanted = data.get(key) or {}
            if node is None:
                self._count(name, refused=True)
                return {
                    "customer": None,
                    "userErrors": [
                        _user_error(["input", "customerId"], "Customer not found", "INVALID")
                    ],
                }
            if wanted.get("marketingState") not in (
                "SUBSCRIBED",
                "UNSUBSCRIBED",
                "PENDING",
            ):
                self._count(name, refused=True)
                return {
                    "customer": None,
                    "userErrors": [
                        _user_error(
                            ["input", key, "marketingState"],
                            "Marketing state is invalid",
                            "INVALID",
                        )
                    ],
                }
            if channel == "sms" and not node.get("phone"):
                self._count(name, refused=True)
                return {
                    "customer": None,
                    "userErrors": [_user_error(["input", key], "Phone can't be blank", "INVALID")],
                }
            current = node.get(key) or {}
            if not current.get("consentUpdatedAt") or str(
                wanted.get("consentUpdatedAt") or ""
            ) >= str(current["consentUpdatedAt"]):
                node[key] = {
                    "marketingState": wanted.get("marketingState"),
                    "marketingOptInLevel": wanted.get("marketingOptInLevel"),
                    "consentUpdatedAt": wanted.get("consentUpdatedAt") or _now(),
                }
            self._store_customer(node, _now())
            self._count(name)
            self.send("customers/update", self.customer_rest(node))
            return {"customer": node, "userErrors": []}

        return handler

    # --------------------------------------------------------------- webhooks
    def send(self, topic: str, payload: dict[str, Any]) -> None:
        """POST the webhook Shopify would send, signed, from a background thread."""
        if not self.webhook_url or not self.webhook_secret:
            return
        body = json.dumps(payload).encode()
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": self.domain,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": _now(),
            "X-Shopify-API-Version": self.api_version,
        }
        record: dict[str, Any] = {"topic": topic, "id": payload.get("id"), "status": None}
        with self.lock:
            self.sent.append(record)

        def deliver() -> None:
            import urllib.error
            import urllib.request

            for attempt in range(5):  # Shopify retries too (8 times over 4 hours)
                request = urllib.request.Request(self.webhook_url or "", data=body, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        record["status"] = response.status
                        return
                except urllib.error.HTTPError as exc:
                    record["status"] = exc.code
                except OSError:
                    record["status"] = "unreachable"
                time.sleep(0.5 * (attempt + 1))

        threading.Thread(target=deliver, daemon=True).start()


def _input_amount(value: Any) -> Decimal:
    return Decimal(str(((value or {}).get("shopMoney") or {}).get("amount") or "0"))


def _transactions(
    order: dict[str, Any], currency: str, lines_total: Decimal
) -> tuple[str | None, list[dict[str, Any]]]:
    """``orderCreate``'s ``transactions`` as Shopify checks them: each in the order's
    currency with a positive amount, the sales (and captures) together no more than the
    order's total. The financial status they give (``None``: no transactions)."""
    transactions = order.get("transactions") or []
    if not transactions:
        return None, []
    shipping = sum(
        (_input_amount(s.get("priceSet")) for s in order.get("shippingLines") or []), Decimal(0)
    )
    code = (order.get("discountCode") or {}).get("itemFixedDiscountCode") or {}
    due = lines_total + shipping - _input_amount(code.get("amountSet"))
    errors, paid, authorized = [], Decimal(0), Decimal(0)
    for index, transaction in enumerate(transactions):
        field = ["order", "transactions", str(index)]
        money = (transaction.get("amountSet") or {}).get("shopMoney") or {}
        amount = Decimal(str(money.get("amount") or "0"))
        if amount <= 0:
            errors.append(_user_error([*field, "amountSet"], "Amount must be positive", "INVALID"))
        if money.get("currencyCode") != currency:
            errors.append(
                _user_error(
                    [*field, "amountSet"], "Currency must match the order's currency", "INVALID"
                )
            )
        if str(transaction.get("status") or "SUCCESS") != "SUCCESS":
            continue
        kind = str(transaction.get("kind") or "SALE")
        if kind in ("SALE", "CAPTURE"):
            paid += amount
        elif kind == "AUTHORIZATION":
            authorized += amount
        else:
            errors.append(
                _user_error([*field, "kind"], f"{kind} is not allowed on a new order", "INVALID")
            )
    if paid > due:
        errors.append(
            _user_error(
                ["order", "transactions"], "Transactions exceed the order's total", "INVALID"
            )
        )
    if paid >= due:
        return "paid", errors
    if paid > 0:
        return "partially_paid", errors
    return ("authorized" if authorized else "pending"), errors


#: What Shopify answers for an address it cannot ship to: the fields it needs.
ADDRESS_NEEDS = ("address1", "city", "countryCode")


def _customer_list_errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Shopify's refusals of ``customerSet``'s tags (at most 255 characters each, no
    commas: Shopify splits on them) and addresses (a street, a city and a country)."""
    errors = []
    for index, tag in enumerate(data.get("tags") or []):
        if len(str(tag)) > 255 or "," in str(tag):
            errors.append(_user_error(["input", "tags", str(index)], "Tag is invalid", "INVALID"))
    for index, address in enumerate(data.get("addresses") or []):
        for name in ADDRESS_NEEDS:
            if not (address or {}).get(name) and not (
                name == "countryCode" and (address or {}).get("country")
            ):
                errors.append(
                    _user_error(
                        ["input", "addresses", str(index), name], f"{name} can't be blank", "BLANK"
                    )
                )
    return errors


def _order_address(address: dict[str, Any] | None) -> dict[str, Any] | None:
    """A ``MailingAddressInput`` as the REST order's ``shipping_address`` (webhooks)."""
    if not address:
        return None
    return {
        "first_name": address.get("firstName"),
        "last_name": address.get("lastName"),
        "name": " ".join(p for p in (address.get("firstName"), address.get("lastName")) if p),
        "company": address.get("company"),
        "address1": address.get("address1"),
        "address2": address.get("address2"),
        "city": address.get("city"),
        "province": address.get("province"),
        "zip": address.get("zip"),
        "country": None,
        "country_code": address.get("countryCode"),
        "phone": address.get("phone"),
    }


def _address_rest(address: dict[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    return {
        "id": int(str(address.get("id") or "0").rsplit("/", 1)[-1]),
        "address1": address.get("address1"),
        "address2": address.get("address2"),
        "city": address.get("city"),
        "zip": address.get("zip"),
        "country_code": address.get("countryCode"),
        "country": address.get("country"),
        "province_code": address.get("provinceCode"),
        "phone": address.get("phone"),
        "default": True,
    }


class OrderCapReached(Throttled):
    """More new orders this minute than a trial or development shop takes."""


def install(
    standin: Any, *, webhook_url: str | None = None, webhook_secret: str | None = None
) -> Writes:
    writes = Writes(standin, webhook_url=webhook_url, webhook_secret=webhook_secret)
    standin.register("orders", writes.orders_field)
    standin.register("customers", writes.customers_field)
    standin.register("productVariants", writes.product_variants)
    standin.register("orderCreate", writes.order_create)
    standin.register("orderCancel", writes.order_cancel)
    standin.register("orderUpdate", writes.order_update)
    standin.register("orderMarkAsPaid", writes.order_mark_as_paid)
    standin.register("order", writes.order_field)
    standin.register("fulfillmentCreate", writes.fulfillment_create)
    standin.register("customerSet", writes.customer_set)
    standin.register("customerDelete", writes.customer_delete)
    standin.register("customerEmailMarketingConsentUpdate", writes.consent("email"))
    standin.register("customerSmsMarketingConsentUpdate", writes.consent("sms"))
    products = shopify_products.install(standin, writes)
    writes.products = products
    writes.order_edits = shopify_order_edits.install(standin, writes)
    standin.register(
        "inventorySetQuantities",
        lambda args, store: products.inventory_set(
            {k: v for k, v in args.items() if k != "_idempotency_key"},
            store,
            str(args["_idempotency_key"]),
        ),
    )
    standin.costed.update(
        {
            "productVariants",
            "orderCreate",
            "orderCancel",
            "orderUpdate",
            "orderMarkAsPaid",
            "fulfillmentCreate",
            "customerSet",
            "customerDelete",
            "customerEmailMarketingConsentUpdate",
            "customerSmsMarketingConsentUpdate",
        }
    )
    return writes
