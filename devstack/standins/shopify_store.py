"""An in-memory Shopify shop that answers the GraphQL Admin API reads OrderHub makes.

Used by the Shopify Admin stand-in (HTTP) and directly by unit tests. It answers as
Shopify documents, for the operations reconciliation and backfill use:

* ``orders`` / ``customers`` / ``products`` connections with ``first``/``after`` cursors,
  ``sortKey: UPDATED_AT`` and an ``updated_at:>='…'`` search query;
* every answer carries ``extensions.cost`` with a leaky-bucket ``throttleStatus``; a query
  the bucket cannot pay for gets ``errors: [{message: "Throttled", extensions: {code:
  "THROTTLED"}}]`` and no data;
* ``bulkOperationRunQuery`` and ``node(id:)`` on a ``BulkOperation`` (CREATED → RUNNING →
  COMPLETED on successive polls), with the result as JSONL in which nested connection
  items are separate lines carrying ``__parentId`` — written children first, since Shopify
  says not to rely on the order of lines.

Root fields return whole nodes; ``shopify_query`` applies the selection, pages nested
connections (``lineItems``, ``variants``, ``refundLineItems``) by their own
``first``/``after``, and computes Shopify's requested and actual query costs, so a query
over the 1,000-point single-query limit is refused with ``MAX_COST_EXCEEDED``.
``node(id:)`` answers bulk operations, orders, products and refunds.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from graphql import FieldNode

from devstack.standins.shopify_query import MAX_QUERY_COST, Query, max_cost_exceeded, parse_query

ROOTS = ("orders", "customers", "products")
THROTTLED = {"message": "Throttled", "extensions": {"code": "THROTTLED"}}


class Throttled(Exception):
    """The cost bucket cannot pay for the query."""


ROOT_TYPES = {"orders": "Order", "customers": "Customer", "products": "Product"}
CHILDREN = {"orders": ("lineItems", "LineItem"), "products": ("variants", "ProductVariant")}


def _money(amount: Any, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": str(amount or "0"), "currencyCode": currency}}


#: REST ``fulfillment_status`` → GraphQL ``displayFulfillmentStatus`` (null: nothing yet).
DISPLAY_FULFILLMENT = {
    None: "UNFULFILLED",
    "fulfilled": "FULFILLED",
    "partial": "PARTIALLY_FULFILLED",
    "restocked": "RESTOCKED",
}


def _money_set(given: Any, amount: Any, currency: str) -> dict[str, Any]:
    """A GraphQL ``MoneyBag`` from a REST ``*_set`` (shop and presentment money), or from a
    plain amount in the shop's currency."""
    if isinstance(given, dict) and given.get("shop_money"):

        def one(money: dict[str, Any]) -> dict[str, Any]:
            return {"amount": str(money.get("amount")), "currencyCode": money.get("currency_code")}

        shop = one(given["shop_money"])
        return {
            "shopMoney": shop,
            "presentmentMoney": one(given.get("presentment_money") or {})
            if given.get("presentment_money")
            else shop,
        }
    money = {"amount": str(amount or "0"), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


def refund_node(rest: dict[str, Any], currency: str) -> dict[str, Any]:
    """A REST refund (as in an order's ``refunds``) as the GraphQL ``Refund`` node. Its
    total comes from ``total_refunded_set`` when the fixture has one (a multi-currency
    shop), else from its successful refund transactions, in the shop's currency."""
    paid = sum(
        float(t.get("amount") or 0)
        for t in rest.get("transactions") or []
        if t.get("kind") == "refund" and t.get("status") in (None, "success")
    )
    return {
        "id": f"gid://shopify/Refund/{rest['id']}",
        "legacyResourceId": str(rest["id"]),
        "createdAt": rest.get("created_at"),
        "note": rest.get("note"),
        "totalRefundedSet": _money_set(rest.get("total_refunded_set"), f"{paid:.2f}", currency),
        "refundLineItems": [
            {
                "quantity": line.get("quantity"),
                "lineItem": {
                    "id": f"gid://shopify/LineItem/{line.get('line_item_id')}",
                    "sku": (line.get("line_item") or {}).get("sku"),
                },
            }
            for line in rest.get("refund_line_items") or []
        ],
    }


def contact_fields(
    email: Any,
    phone: Any,
    email_consent: dict[str, Any] | None = None,
    sms_consent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A customer's ``defaultEmailAddress`` and ``defaultPhoneNumber`` (2026-10), with the
    consent they carry, from the stored ``{marketingState, marketingOptInLevel,
    consentUpdatedAt}`` of each channel."""
    email_consent, sms_consent = email_consent or {}, sms_consent or {}
    return {
        "defaultEmailAddress": {
            "emailAddress": email,
            "marketingState": email_consent.get("marketingState") or "NOT_SUBSCRIBED",
            "marketingOptInLevel": email_consent.get("marketingOptInLevel"),
            "marketingUpdatedAt": email_consent.get("consentUpdatedAt"),
        }
        if email
        else None,
        "defaultPhoneNumber": {
            "phoneNumber": phone,
            "smsMarketingConsent": {
                "state": sms_consent.get("marketingState") or "NOT_SUBSCRIBED",
                "optInLevel": sms_consent.get("marketingOptInLevel"),
                "updatedAt": sms_consent.get("consentUpdatedAt"),
            },
        }
        if phone
        else None,
    }


def order_node(rest: dict[str, Any]) -> dict[str, Any]:
    """A Shopify REST order (fixture shape) as the GraphQL ``Order`` node."""
    currency = rest.get("currency") or "USD"
    customer = rest.get("customer") or None
    shipping = rest.get("shipping_address") or None
    shipping_total = sum(float(s.get("price") or 0) for s in rest.get("shipping_lines") or [])
    return {
        "id": f"gid://shopify/Order/{rest['id']}",
        "legacyResourceId": str(rest["id"]),
        "name": rest.get("name"),
        "createdAt": rest.get("created_at"),
        "updatedAt": rest.get("updated_at"),
        "processedAt": rest.get("processed_at"),
        "cancelledAt": rest.get("cancelled_at"),
        "cancelReason": (rest.get("cancel_reason") or "").upper() or None,
        "closedAt": rest.get("closed_at"),
        "displayFinancialStatus": (rest.get("financial_status") or "").upper() or None,
        "displayFulfillmentStatus": DISPLAY_FULFILLMENT.get(
            rest.get("fulfillment_status"), "UNFULFILLED"
        ),
        "currencyCode": currency,
        "presentmentCurrencyCode": rest.get("presentment_currency") or currency,
        "note": rest.get("note"),
        "tags": [t.strip() for t in str(rest.get("tags") or "").split(",") if t.strip()],
        "email": rest.get("email"),
        "phone": rest.get("phone"),
        "sourceName": rest.get("source_name"),
        "sourceIdentifier": rest.get("source_identifier"),
        "customAttributes": [
            {"key": a.get("name"), "value": a.get("value")}
            for a in rest.get("note_attributes") or []
        ],
        "app": {"id": f"gid://shopify/App/{rest['app_id']}"} if rest.get("app_id") else None,
        "subtotalPriceSet": _money(rest.get("subtotal_price"), currency),
        "totalTaxSet": _money(rest.get("total_tax"), currency),
        "totalDiscountsSet": _money(rest.get("total_discounts"), currency),
        "totalShippingPriceSet": _money(f"{shipping_total:.2f}", currency),
        "totalPriceSet": _money_set(rest.get("total_price_set"), rest.get("total_price"), currency),
        "customer": {
            "id": f"gid://shopify/Customer/{customer['id']}",
            "legacyResourceId": str(customer["id"]),
            "firstName": customer.get("first_name"),
            "lastName": customer.get("last_name"),
            "email": customer.get("email"),
            "phone": customer.get("phone"),
            **contact_fields(customer.get("email"), customer.get("phone")),
        }
        if customer
        else None,
        "shippingAddress": {
            **{
                k: shipping.get(k)
                for k in (
                    "name",
                    "company",
                    "address1",
                    "address2",
                    "city",
                    "province",
                    "zip",
                    "country",
                    "phone",
                )
            },
            "countryCodeV2": shipping.get("country_code"),
        }
        if shipping
        else None,
        "lineItems": [
            {
                "id": f"gid://shopify/LineItem/{line['id']}",
                "sku": line.get("sku"),
                "title": line.get("title"),
                "variantTitle": line.get("variant_title"),
                "quantity": line.get("quantity"),
                "currentQuantity": line.get("current_quantity", line.get("quantity")),
                "originalUnitPriceSet": _money(line.get("price"), currency),
                "totalDiscountSet": _money(line.get("total_discount"), currency),
                "variant": {
                    "id": f"gid://shopify/ProductVariant/{line['variant_id']}",
                    "legacyResourceId": str(line["variant_id"]),
                }
                if line.get("variant_id")
                else None,
                "product": {"legacyResourceId": str(line["product_id"])}
                if line.get("product_id")
                else None,
            }
            for line in rest.get("line_items") or []
        ],
        "refunds": [refund_node(r, currency) for r in rest.get("refunds") or []],
    }


def customer_node(rest: dict[str, Any]) -> dict[str, Any]:
    address = rest.get("default_address") or None
    return {
        "id": f"gid://shopify/Customer/{rest['id']}",
        "legacyResourceId": str(rest["id"]),
        "firstName": rest.get("first_name"),
        "lastName": rest.get("last_name"),
        "email": rest.get("email"),
        "phone": rest.get("phone"),
        **contact_fields(rest.get("email"), rest.get("phone")),
        "tags": [t.strip() for t in str(rest.get("tags") or "").split(",") if t.strip()],
        "numberOfOrders": str(rest.get("orders_count") or 0),
        "createdAt": rest.get("created_at"),
        "updatedAt": rest.get("updated_at"),
        "defaultAddress": {**address, "countryCodeV2": address.get("country_code")}
        if address
        else None,
    }


def product_node(rest: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/Product/{rest['id']}",
        "legacyResourceId": str(rest["id"]),
        "title": rest.get("title"),
        "vendor": rest.get("vendor"),
        "productType": rest.get("product_type"),
        "status": (rest.get("status") or "active").upper(),
        "tags": [t.strip() for t in str(rest.get("tags") or "").split(",") if t.strip()],
        "createdAt": rest.get("created_at"),
        "updatedAt": rest.get("updated_at"),
        "variants": [
            {
                "id": f"gid://shopify/ProductVariant/{v['id']}",
                "legacyResourceId": str(v["id"]),
                "sku": v.get("sku"),
                "title": v.get("title"),
                "price": v.get("price"),
                "compareAtPrice": v.get("compare_at_price"),
                "barcode": v.get("barcode"),
                "inventoryQuantity": v.get("inventory_quantity"),
                "inventoryItem": {
                    "id": f"gid://shopify/InventoryItem/{v.get('inventory_item_id') or v['id']}"
                },
            }
            for v in rest.get("variants") or []
        ],
    }


_SINCE = re.compile(r"updated_at:>=?'?([0-9T:+\-.Z]+)'?")


def _epoch(text: str | None) -> float:
    from datetime import datetime

    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class ShopifyStore:
    """One shop's data and the GraphQL answers over it. Thread-safe."""

    def __init__(
        self,
        *,
        bucket_size: float = 2000.0,
        restore_rate: float = 100.0,
        clock: Callable[[], float] = time.monotonic,
        file_url: Callable[[str], str] = lambda token: f"/_bulk/{token}.jsonl",
    ) -> None:
        self.nodes: dict[str, dict[str, dict[str, Any]]] = {root: {} for root in ROOTS}
        self.bucket_size, self.restore_rate, self.clock = bucket_size, restore_rate, clock
        self.available = bucket_size
        self._last = clock()
        self.file_url = file_url
        self.bulk: dict[str, dict[str, Any]] = {}
        self.files: dict[str, list[str]] = {}
        self.calls: list[str] = []  # root fields answered, for tests
        self.last_cost, self.last_paid = 0.0, True
        self.last_actual: float | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ data
    def put(self, root: str, node: dict[str, Any]) -> None:
        with self._lock:
            self.nodes[root][node["id"]] = node

    def delete(self, root: str, legacy_id: str) -> None:
        """Shopify deleted it (and, in tests, its delete webhook is lost)."""
        with self._lock:
            self.nodes[root].pop(f"gid://shopify/{ROOT_TYPES[root]}/{legacy_id}", None)

    def put_order(self, rest: dict[str, Any]) -> None:
        self.put("orders", order_node(rest))

    def put_customer(self, rest: dict[str, Any]) -> None:
        self.put("customers", customer_node(rest))

    def put_product(self, rest: dict[str, Any]) -> None:
        self.put("products", product_node(rest))

    # ----------------------------------------------------------------- costs
    def refill_by(self, clock: Callable[[], float]) -> None:
        """Refill the cost bucket by ``clock`` from now on: a test's own time, so that a
        slow machine between two calls does not refill it."""
        with self._lock:
            self.clock, self._last = clock, clock()

    def _charge(self, requested: float) -> dict[str, Any] | None:  # caller holds the lock
        """Leaky bucket: refill by elapsed time, then pay ``requested`` or refuse."""
        now = self.clock()
        self.available = min(
            self.bucket_size, self.available + (now - self._last) * self.restore_rate
        )
        self._last = now
        if self.available < requested:
            return None
        self.available -= requested
        return {"currentlyAvailable": self.available}

    def _cost(self, requested: float, paid: bool, actual: float | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": (requested if actual is None else actual) if paid else None,
                "throttleStatus": {
                    "maximumAvailable": self.bucket_size,
                    "currentlyAvailable": self.available,
                    "restoreRate": self.restore_rate,
                },
            }
        }

    # --------------------------------------------------------------- answers
    FIELDS = (*ROOTS, "bulkOperationRunQuery", "node", "nodes")

    def field(self, name: str, args: dict[str, Any]) -> Any:
        """The full value of one root field (the caller pays for the query first)."""
        with self._lock:
            self.calls.append(name)
            if name in ROOTS:
                return self._page(name, args)
            if name == "bulkOperationRunQuery":
                return self._run_bulk(args)
            if name == "node":
                return self._node(args)
            if name == "nodes":  # null for an id that does not exist (any more)
                return [self._node({"id": gid}) for gid in args.get("ids") or []]
        raise KeyError(name)

    def charge(self, requested: float) -> None:
        """Pay for a write (or a search) from the bucket; ``Throttled`` when it cannot."""
        self.pay(requested)

    def extensions(self) -> dict[str, Any]:
        """``extensions`` of the last answer: the cost and the bucket after it."""
        return self._cost(self.last_cost, paid=self.last_paid, actual=self.last_actual)

    def pay(self, requested: float) -> None:
        """Charge a query's requested cost; ``Throttled`` if the bucket cannot pay."""
        with self._lock:
            self.last_cost, self.last_actual = requested, None
            self.last_paid = self._charge(requested) is not None
            if not self.last_paid:
                raise Throttled

    def settle(self, actual: float) -> None:
        """Refund what the query requested but did not use, as Shopify does."""
        with self._lock:
            self.last_actual = actual
            self.available = min(
                self.bucket_size, self.available + max(self.last_cost - actual, 0.0)
            )

    def answer(self, query: Query, resolve: Callable[[FieldNode], Any]) -> dict[str, Any]:
        """A whole answer for a parsed operation whose root fields this store serves:
        refused over the single-query limit, throttled when the bucket cannot pay, else
        run, projected, and charged its actual cost."""
        requested = query.requested_cost()
        if requested > MAX_QUERY_COST:
            return {"errors": [max_cost_exceeded(requested)]}
        try:
            self.pay(float(requested))
        except Throttled:
            return {"errors": [THROTTLED], "extensions": self.extensions()}
        data = {}
        for root in query.fields(query.operation.selection_set):
            key = root.alias.value if root.alias else root.name.value
            data[key] = query.project(root, resolve(root))
        self.settle(float(query.actual_cost(data)))
        return {"data": data, "extensions": self.extensions()}

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """A whole GraphQL answer without HTTP, for unit tests."""
        parsed = parse_query(query, variables)
        if isinstance(parsed, dict):
            return parsed
        roots = parsed.fields(parsed.operation.selection_set)
        unknown = [r.name.value for r in roots if r.name.value not in self.FIELDS]
        if unknown:
            return {"errors": [{"message": f"stand-in: {unknown[0]} not supported"}]}
        return self.answer(parsed, lambda root: self.field(root.name.value, parsed.args(root)))

    def _page(self, root: str, args: dict[str, Any]) -> dict[str, Any]:
        first = int(args.get("first") or 50)
        match = _SINCE.search(str(args.get("query") or ""))
        since = _epoch(match.group(1)) if match else 0.0
        items = sorted(
            (n for n in self.nodes[root].values() if _epoch(n.get("updatedAt")) >= since),
            key=lambda n: (_epoch(n.get("updatedAt")), n["id"]),
        )
        start = int(base64.b64decode(args["after"]).decode()) if args.get("after") else 0
        page = items[start : start + first]
        end = start + len(page)
        return {
            "nodes": page,
            "pageInfo": {
                "hasNextPage": end < len(items),
                "endCursor": base64.b64encode(str(end).encode()).decode(),
            },
        }

    def _node(self, args: dict[str, Any]) -> dict[str, Any] | None:
        gid = str(args.get("id") or "")
        if "/BulkOperation/" in gid:
            return self._poll_bulk(args)
        for root in ROOTS:
            if gid in self.nodes[root]:
                return self.nodes[root][gid]
        for order in self.nodes["orders"].values():
            for refund in order.get("refunds") or []:
                if refund["id"] == gid:
                    return refund
        return None

    def _run_bulk(self, args: dict[str, Any]) -> dict[str, Any]:
        query = str(args.get("query") or "")
        root = next((r for r in ROOTS if re.search(rf"\b{r}\b", query)), None)
        if root is None:
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["query"], "message": "Invalid bulk query"}],
            }
        op_id = f"gid://shopify/BulkOperation/{len(self.bulk) + 1}"
        self.bulk[op_id] = {"root": root, "polls": 0}
        return {"bulkOperation": {"id": op_id, "status": "CREATED"}, "userErrors": []}

    def _poll_bulk(self, args: dict[str, Any]) -> dict[str, Any] | None:
        variables = args
        op = self.bulk.get(str(variables.get("id")))
        if op is None:
            return None
        op["polls"] += 1
        root = op["root"]
        node: dict[str, Any] = {
            "id": variables["id"],
            "status": "RUNNING" if op["polls"] < 2 else "COMPLETED",
            "errorCode": None,
            "objectCount": "0",
            "rootObjectCount": str(len(self.nodes[root])),
            "url": None,
            "partialDataUrl": None,
        }
        if node["status"] == "COMPLETED":
            token = str(variables["id"]).rsplit("/", 1)[-1]
            if token not in self.files:
                self.files[token] = self._jsonl(root)
            node["objectCount"] = str(len(self.files[token]))
            node["url"] = self.file_url(token) if self.files[token] else None
        return node

    def _jsonl(self, root: str) -> list[str]:
        import json

        parents, children = [], []
        for node in sorted(self.nodes[root].values(), key=lambda n: n["id"]):
            flat = dict(node)
            if root in CHILDREN:
                field, _ = CHILDREN[root]
                for child in flat.pop(field, None) or []:
                    children.append(json.dumps({**child, "__parentId": node["id"]}))
            parents.append(json.dumps(flat))
        return children + parents
