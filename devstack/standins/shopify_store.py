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

It does not parse GraphQL: it recognises the operation by its root field and returns whole
nodes (a superset of any selection OrderHub makes).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from typing import Any

ROOTS = ("orders", "customers", "products")
THROTTLED = {"message": "Throttled", "extensions": {"code": "THROTTLED"}}


class Throttled(Exception):
    """The cost bucket cannot pay for the query."""


CHILDREN = {"orders": ("lineItems", "LineItem"), "products": ("variants", "ProductVariant")}


def _money(amount: Any, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": str(amount or "0"), "currencyCode": currency}}


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
        "displayFulfillmentStatus": (rest.get("fulfillment_status") or "unfulfilled").upper(),
        "currencyCode": currency,
        "presentmentCurrencyCode": rest.get("presentment_currency") or currency,
        "note": rest.get("note"),
        "tags": [t.strip() for t in str(rest.get("tags") or "").split(",") if t.strip()],
        "email": rest.get("email"),
        "phone": rest.get("phone"),
        "sourceName": rest.get("source_name"),
        "subtotalPriceSet": _money(rest.get("subtotal_price"), currency),
        "totalTaxSet": _money(rest.get("total_tax"), currency),
        "totalDiscountsSet": _money(rest.get("total_discounts"), currency),
        "totalShippingPriceSet": _money(f"{shipping_total:.2f}", currency),
        "totalPriceSet": {
            **_money(rest.get("total_price"), currency),
            "presentmentMoney": {"amount": str(rest.get("total_price")), "currencyCode": currency},
        },
        "customer": {
            "id": f"gid://shopify/Customer/{customer['id']}",
            "legacyResourceId": str(customer["id"]),
            "firstName": customer.get("first_name"),
            "lastName": customer.get("last_name"),
            "email": customer.get("email"),
            "phone": customer.get("phone"),
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
                "originalUnitPriceSet": _money(line.get("price"), currency),
                "totalDiscountSet": _money(line.get("total_discount"), currency),
                "variant": {"legacyResourceId": str(line["variant_id"])}
                if line.get("variant_id")
                else None,
                "product": {"legacyResourceId": str(line["product_id"])}
                if line.get("product_id")
                else None,
            }
            for line in rest.get("line_items") or []
        ],
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
                "inventoryQuantity": v.get("inventory_quantity"),
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
        bucket_size: float = 1000.0,
        restore_rate: float = 50.0,
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
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ data
    def put(self, root: str, node: dict[str, Any]) -> None:
        with self._lock:
            self.nodes[root][node["id"]] = node

    def put_order(self, rest: dict[str, Any]) -> None:
        self.put("orders", order_node(rest))

    def put_customer(self, rest: dict[str, Any]) -> None:
        self.put("customers", customer_node(rest))

    def put_product(self, rest: dict[str, Any]) -> None:
        self.put("products", product_node(rest))

    # ----------------------------------------------------------------- costs
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

    def _cost(self, requested: float, paid: bool) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": requested if paid else None,
                "throttleStatus": {
                    "maximumAvailable": self.bucket_size,
                    "currentlyAvailable": self.available,
                    "restoreRate": self.restore_rate,
                },
            }
        }

    # --------------------------------------------------------------- answers
    FIELDS = (*ROOTS, "bulkOperationRunQuery", "node")

    def field(self, name: str, args: dict[str, Any]) -> Any:
        """The full value of one root field; ``Throttled`` when the bucket cannot pay."""
        with self._lock:
            self.calls.append(name)
            if name in ROOTS:
                return self._page(name, args)
            if name == "bulkOperationRunQuery":
                return self._run_bulk(args)
            if name == "node":
                return self._poll_bulk(args)
        raise KeyError(name)

    def charge(self, requested: float) -> None:
        """Pay for a write (or a search) from the bucket; ``Throttled`` when it cannot."""
        with self._lock:
            self._pay(requested)

    def extensions(self) -> dict[str, Any]:
        """``extensions`` of the last answer: the cost and the bucket after it."""
        return self._cost(self.last_cost, paid=self.last_paid)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """A whole GraphQL answer without HTTP, for unit tests (root field found by name)."""
        variables = variables or {}
        name = next((f for f in self.FIELDS if re.search(rf"\b{f}\s*\(", query)), None)
        if name is None:
            return {"errors": [{"message": "stand-in: operation not supported"}]}
        try:
            value = self.field(name, variables)
        except Throttled:
            return {"errors": [THROTTLED], "extensions": self.extensions()}
        return {"data": {name: value}, "extensions": self.extensions()}

    def _page(self, root: str, args: dict[str, Any]) -> dict[str, Any]:
        first = int(args.get("first") or 50)
        self._pay(float(2 + first))
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
            "nodes": [self._with_nodes(root, n) for n in page],
            "pageInfo": {
                "hasNextPage": end < len(items),
                "endCursor": base64.b64encode(str(end).encode()).decode(),
            },
        }

    def _pay(self, requested: float) -> None:
        self.last_cost = requested
        self.last_paid = self._charge(requested) is not None
        if not self.last_paid:
            raise Throttled

    @staticmethod
    def _with_nodes(root: str, node: dict[str, Any]) -> dict[str, Any]:
        if root not in CHILDREN:
            return node
        field, _ = CHILDREN[root]
        return {**node, field: {"nodes": node.get(field) or []}}

    def _run_bulk(self, args: dict[str, Any]) -> dict[str, Any]:
        self._pay(10.0)
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
        self._pay(1.0)
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
