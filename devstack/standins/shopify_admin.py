"""A stand-in for Shopify's GraphQL Admin API, for tests and the local stack.

It answers ``POST /admin/api/{version}/graphql.json`` as Shopify documents: the access
token in ``X-Shopify-Access-Token`` (401 with Shopify's message otherwise), a JSON body
``{query, variables, operationName}``, and ``{"data": ..., "extensions": {"cost": ...}}``
back, with only the fields the query selected. Every request is first validated with its
variables against Shopify's published schema (``devstack.standins.shopify_schema``): an
unknown field at any depth, a wrong argument name, a bad enum value, an unknown input field
or a missing required variable is refused with Shopify's errors, as Shopify does. It answers
with the one version it has the schema of, and says so in ``X-Shopify-API-Version``.
Valid requests are then answered by handlers (aliases honoured, nested connections paged
by their own ``first``/``after``), charged Shopify's calculated query cost
(``devstack.standins.shopify_query``: connection sizes multiply; a query over 1,000
points is refused with ``MAX_COST_EXCEEDED``). A field it does not
know comes back as a GraphQL error, as Shopify's schema validation would.

Operations are handlers registered by root field name; add one with ``register``:

    standin.register("orders", lambda args, store: {...})

A handler gets the field's arguments (variables resolved) and the ``Store`` of recorded
objects, and returns the full object; selection and aliases are applied afterwards.
Tests read what was recorded from ``GET /_standin/{kind}`` (e.g. ``draft_orders``).
Draft orders are listed by ``draftOrders(first, query, sortKey, reverse)`` (the search
terms ``status:open|completed`` and ``tag:``), and ``POST
/_standin/draft_orders/{legacy id}/complete`` does what a customer paying the invoice does
(status ``COMPLETED``): the CRM app's unpaid payment links.

The reads that reconciliation and backfill make (``orders``, ``customers``, ``products``,
``bulkOperationRunQuery``, ``node``) are answered from an in-memory shop
(``devstack.standins.shopify_store.ShopifyStore``), with Shopify's cost bucket and
``THROTTLED`` errors; bulk results are served at ``GET /_bulk/{id}.jsonl``. Seed that shop
with REST-shaped resources: ``POST /_standin/shop/{orders|customers|products}``; delete one
(as Shopify would, sending no webhook) with ``DELETE /_standin/shop/{resource}/{id}``.

Run alone: ``SHOPIFY_ADMIN_TOKEN=T python -m devstack.standins.shopify_admin --port 8631 --shop S``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.standins import shopify_oauth, shopify_schema, shopify_writes
from devstack.standins.shopify_query import parse_query
from devstack.standins.shopify_store import THROTTLED, ShopifyStore, Throttled

PATH = re.compile(r"^/admin/api/(?P<version>[0-9]{4}-[0-9]{2}|unstable)/graphql\.json$")
UNAUTHORIZED = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}


class UserError(Exception):
    """A handler's refusal, returned as ``userErrors`` in the mutation's payload."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


class Store:
    """Everything the stand-in recorded, by kind, safe across request threads."""

    def __init__(self, shop: str) -> None:
        self.shop = shop
        self.shop_id = 548380009
        self._lock = threading.Lock()
        self._kinds: dict[str, list[dict[str, Any]]] = {}
        self._counter = 1000

    def next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def add(self, kind: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._kinds.setdefault(kind, []).append(record)

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._kinds.get(kind, []))


Handler = Callable[[dict[str, Any], Store], Any]


# ------------------------------------------------------------ draftOrderCreate
def _money(value: Any) -> Decimal | None:
    if isinstance(value, dict):
        value = value.get("amount")
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def draft_order_create(args: dict[str, Any], store: Store) -> dict[str, Any]:
    """``draftOrderCreate(input: DraftOrderInput!)``: checks line items as Shopify does,
    records the draft, and returns ``{draftOrder, userErrors}``."""
    draft_input = args.get("input") or {}
    items = draft_input.get("lineItems") or []
    errors: list[dict[str, Any]] = []
    if not items:
        errors.append({"field": ["input", "lineItems"], "message": "Add at least 1 product"})
    total = Decimal("0")
    currency = "USD"
    lines = []
    for index, item in enumerate(items):
        field = ["input", "lineItems", str(index)]
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or quantity < 1:
            errors.append({"field": [*field, "quantity"], "message": "Quantity must be at least 1"})
            continue
        variant = item.get("variantId")
        if variant:
            if not re.fullmatch(r"gid://shopify/ProductVariant/\d+", str(variant)):
                errors.append({"field": [*field, "variantId"], "message": "Variant is invalid"})
                continue
            price_input = item.get("priceOverride")
            price = _money(price_input) or Decimal("0")
        else:
            if not item.get("title"):
                errors.append({"field": [*field, "title"], "message": "Title can't be blank"})
                continue
            price_input = item.get("originalUnitPriceWithCurrency") or item.get("originalUnitPrice")
            price = _money(price_input)
            if price is None:
                errors.append(
                    {"field": [*field, "originalUnitPrice"], "message": "Price can't be blank"}
                )
                continue
        if isinstance(price_input, dict) and price_input.get("currencyCode"):
            currency = str(price_input["currencyCode"])
        total += price * quantity
        lines.append(
            {
                "title": item.get("title"),
                "variantId": variant,
                "quantity": quantity,
                "originalUnitPrice": str(price),
                "sku": item.get("sku"),
            }
        )
    if errors:
        return {"draftOrder": None, "userErrors": errors}
    number = store.next_id()
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    money = {"amount": str(total), "currencyCode": currency}
    draft = {
        "id": f"gid://shopify/DraftOrder/{number}",
        "legacyResourceId": str(number),
        "name": f"#D{number - 1000}",
        "status": "OPEN",
        "invoiceUrl": (f"https://{store.shop}/{store.shop_id}/invoices/{secrets.token_hex(16)}"),
        "createdAt": now,
        "updatedAt": now,
        "note2": draft_input.get("note"),
        "email": draft_input.get("email"),
        "phone": draft_input.get("phone"),
        "tags": list(draft_input.get("tags") or []),
        "customAttributes": list(draft_input.get("customAttributes") or []),
        "currencyCode": currency,
        "totalPriceSet": {"shopMoney": money, "presentmentMoney": money},
        "subtotalPriceSet": {"shopMoney": money, "presentmentMoney": money},
        "lineItems": {"nodes": lines},
        "input": draft_input,
    }
    store.add("draft_orders", draft)
    return {"draftOrder": draft, "userErrors": []}


def _matches(draft: dict[str, Any], search: str) -> bool:
    """Shopify's search syntax for drafts, the terms we send: ``status:open``,
    ``status:completed``, ``tag:<tag>`` (all must hold)."""
    for term in search.split():
        key, _, value = term.partition(":")
        if key == "status" and str(draft["status"]).lower() != value.lower():
            return False
        if key == "tag" and value not in draft["tags"]:
            return False
    return True


def draft_orders(args: dict[str, Any], store: Store) -> dict[str, Any]:
    """``draftOrders(first, query, sortKey: UPDATED_AT | CREATED_AT, reverse)``: one page."""
    found = [d for d in store.all("draft_orders") if _matches(d, str(args.get("query") or ""))]
    key = "createdAt" if args.get("sortKey") == "CREATED_AT" else "updatedAt"
    found.sort(
        key=lambda d: (d[key], int(d["legacyResourceId"])), reverse=bool(args.get("reverse"))
    )
    first = int(args.get("first") or 0)
    if not 0 < first <= 250:
        raise ValueError("first must be between 1 and 250")
    page = found[:first]
    cursor = page[-1]["id"] if page else None
    return {"nodes": page, "pageInfo": {"hasNextPage": len(found) > first, "endCursor": cursor}}


def complete_draft(store: Store, legacy_id: str) -> dict[str, Any] | None:
    """What the customer paying the invoice does to the draft: ``COMPLETED``."""
    for draft in store.all("draft_orders"):
        if draft["legacyResourceId"] == legacy_id:
            now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            draft.update(status="COMPLETED", completedAt=now, updatedAt=now)
            return draft
    return None


#: Mutations that must carry ``@idempotent(key:)`` (2026-04 on: ``inventorySetQuantities``).
IDEMPOTENT_REQUIRED = ("inventorySetQuantities",)


def _idempotency_key(query: Any, node: Any) -> str | None:
    from graphql.utilities import value_from_ast_untyped

    for directive in node.directives or ():
        if directive.name.value == "idempotent":
            for arg in directive.arguments or ():
                if arg.name.value == "key":
                    value = value_from_ast_untyped(arg.value, query.variables)
                    return str(value) if value else None
    return None


def _idempotency_missing(field: str) -> dict[str, Any]:
    """Assumed shape: Shopify documents that the key is required, not its error's words."""
    return {
        "message": f"The @idempotent directive with a key is required for {field}",
        "extensions": {"code": "BAD_REQUEST"},
    }


class ShopifyAdminStandIn:
    def __init__(
        self,
        *,
        token: str,
        shop: str,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_ttl: float = 86_399.0,
    ):
        #: The Dev Dashboard app: ``POST /admin/oauth/access_token`` issues tokens that
        #: expire after ``token_ttl`` seconds (``POST /_standin/token_ttl`` changes it).
        self.oauth = shopify_oauth.OAuth(client_id, client_secret, token_ttl)
        #: The one version it answers (its schema's); older versions fall forward to it.
        self.api_version = shopify_schema.schema_version()
        shopify_schema.schema()  # loaded (a few seconds, once per process) before serving
        self.token = token
        self.store = Store(shop)
        self.handlers: dict[str, Handler] = {}
        self.register("draftOrderCreate", draft_order_create)
        self.register("draftOrders", draft_orders)
        #: ``webhookSubscriptionCreate`` / ``webhookSubscriptions`` (the install flow's
        #: registration): {"id", "topic", "uri"} each.
        self.subscriptions: list[dict[str, Any]] = []
        self.register("webhookSubscriptions", self._subscriptions)
        self.register("webhookSubscriptionCreate", self._subscribe)
        self._server = ThreadingHTTPServer((host, port), self._request_handler())
        self.shop = ShopifyStore(file_url=lambda token: f"{self.url}/_bulk/{token}.jsonl")
        for field in ShopifyStore.FIELDS:
            self.register(field, lambda args, _store, field=field: self.shop.field(field, args))
        self._thread: threading.Thread | None = None
        #: Root fields whose answers carry the shop bucket's real cost figures.
        self.costed: set[str] = set(ShopifyStore.FIELDS)
        self.writes = shopify_writes.install(
            self, webhook_url=webhook_url, webhook_secret=webhook_secret
        )

    def _subscriptions(self, args: dict[str, Any], _store: Store) -> dict[str, Any]:
        nodes = list(self.subscriptions)
        return {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}

    def _subscribe(self, args: dict[str, Any], _store: Store) -> dict[str, Any]:
        topic, uri = args["topic"], args["webhookSubscription"]["uri"]
        if any(s["topic"] == topic and s["uri"] == uri for s in self.subscriptions):
            error = {"field": ["webhookSubscription", "callbackUrl"]}
            error["message"] = "Address for this topic has already been taken"
            return {"webhookSubscription": None, "userErrors": [error]}
        node = {"id": f"gid://shopify/WebhookSubscription/{len(self.subscriptions) + 1}"}
        node.update(topic=topic, uri=uri)
        self.subscriptions.append(node)
        return {"webhookSubscription": node, "userErrors": []}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def register(self, field: str, handler: Handler) -> None:
        self.handlers[field] = handler

    def execute(self, body: dict[str, Any]) -> dict[str, Any]:
        """One GraphQL request → the response body Shopify would send.

        Reads of the shop (``ShopifyStore.FIELDS``) are charged Shopify's calculated cost
        (``shopify_query``): refused with ``MAX_COST_EXCEEDED`` over 1,000 points,
        ``THROTTLED`` when the bucket cannot pay, else the actual cost is charged.
        """
        invalid = shopify_schema.check(
            str(body.get("query") or ""), body.get("variables"), body.get("operationName")
        )
        if invalid:  # Shopify's schema refuses it: nothing runs, nothing is charged
            return {"errors": invalid}
        query = parse_query(
            str(body.get("query") or ""), body.get("variables") or {}, body.get("operationName")
        )
        if isinstance(query, dict):
            return query
        root = "Mutation" if query.is_mutation else "QueryRoot"
        roots = query.fields(query.operation.selection_set)
        errors = [
            {
                "message": f"Field '{node.name.value}' doesn't exist on type '{root}'",
                "extensions": {
                    "code": "undefinedField",
                    "typeName": root,
                    "fieldName": node.name.value,
                },
            }
            for node in roots
            if node.name.value not in self.handlers
        ]
        if errors:
            return {"errors": errors}
        if any(node.name.value in ShopifyStore.FIELDS for node in roots):
            return self.shop.answer(
                query, lambda node: self.handlers[node.name.value](query.args(node), self.store)
            )
        data: dict[str, Any] = {}
        for node in roots:
            key = node.alias.value if node.alias else node.name.value
            if node.name.value in IDEMPOTENT_REQUIRED:
                idempotency = _idempotency_key(query, node)
                if idempotency is None:
                    return {"errors": [_idempotency_missing(node.name.value)]}
            try:
                if node.name.value in IDEMPOTENT_REQUIRED:
                    value = self.handlers[node.name.value](
                        {**query.args(node), "_idempotency_key": idempotency}, self.store
                    )
                else:
                    value = self.handlers[node.name.value](query.args(node), self.store)
            except Throttled:  # a write the bucket cannot pay for (shopify_writes)
                return {"errors": [THROTTLED], "extensions": self.shop.extensions()}
            data[key] = query.project(node, value)
        if any(node.name.value in self.costed for node in roots):
            return {"data": data, "extensions": self.shop.extensions()}
        cost = {
            "requestedQueryCost": query.requested_cost(),
            "actualQueryCost": query.actual_cost(data),
            "throttleStatus": {
                "maximumAvailable": 2000.0,
                "currentlyAvailable": 1990,
                "restoreRate": 100.0,
            },
        }
        return {"data": data, "extensions": {"cost": cost}}

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # no bodies in logs
                return

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Shopify-API-Version", standin.api_version)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                bulk = re.fullmatch(r"/_bulk/(\w+)\.jsonl", self.path)
                if bulk and bulk.group(1) in standin.shop.files:
                    data = "".join(line + "\n" for line in standin.shop.files[bulk.group(1)])
                    self.send_response(200)
                    self.send_header("Content-Type", "application/jsonl")
                    self.send_header("Content-Length", str(len(data.encode())))
                    self.end_headers()
                    self.wfile.write(data.encode())
                elif self.path in ("/_standin/webhooks_sent", "/_standin/writes"):
                    writes = standin.writes
                    with writes.lock:
                        self._send(
                            200,
                            list(writes.sent)
                            if self.path.endswith("webhooks_sent")
                            else {
                                "counts": writes.counts,
                                "refused": writes.refused,
                                "orders": list(writes.orders.values()),
                                "customers": list(writes.customers.values()),
                                "fulfillments": list(writes.fulfilments),
                                "products": list(standin.shop.nodes["products"].values()),
                                "stock": writes.products.stock(),
                            },
                        )
                elif self.path.startswith("/_standin/"):
                    self._send(200, standin.store.all(self.path[len("/_standin/") :]))
                elif self.path.startswith(shopify_oauth.AUTHORIZE_PATH + "?"):
                    # The merchant approves at once: back to redirect_uri with a code.
                    status, where = standin.oauth.authorize(self.path, standin.store.shop)
                    if status != 302:
                        self._send(status, {"errors": where})
                    else:
                        self.send_response(302)
                        self.send_header("Location", where)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                elif self.path == "/_standin/oauth":
                    self._send(200, standin.oauth.counts())
                elif self.path == "/":
                    self._send(200, {"standin": "shopify_admin"})
                else:
                    self._send(404, {"errors": "Not Found"})

            def do_DELETE(self) -> None:
                gone = re.fullmatch(r"/_standin/shop/(orders|customers|products)/(\d+)", self.path)
                if not gone:
                    self._send(404, {"errors": "Not Found"})
                    return
                standin.shop.delete(gone.group(1), gone.group(2))
                self._send(200, {"ok": True})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                seed = re.fullmatch(r"/_standin/shop/(orders|customers|products)", self.path)
                if seed:
                    put = {
                        "orders": standin.shop.put_order,
                        "customers": standin.shop.put_customer,
                        "products": standin.shop.put_product,
                    }[seed.group(1)]
                    put(json.loads(raw))
                    self._send(201, {"ok": True})
                    return
                if self.path == "/_standin/fault":  # {"field": ..., "fault": "slow:3"}
                    spec = json.loads(raw)
                    with standin.writes.lock:
                        standin.writes.faults.setdefault(spec["field"], []).append(spec["fault"])
                    self._send(201, {"ok": True})
                    return
                if self.path == shopify_oauth.TOKEN_PATH:
                    status, answer = standin.oauth.grant(raw, self.headers.get("Content-Type"))
                    self._send(status, answer)
                    return
                completed = re.fullmatch(r"/_standin/draft_orders/(\d+)/complete", self.path)
                if completed:  # the customer paid the invoice
                    draft = complete_draft(standin.store, completed.group(1))
                    self._send(200 if draft else 404, draft or {"errors": "Not Found"})
                    return
                if self.path == "/_standin/token_ttl":
                    standin.oauth.ttl = float(json.loads(raw)["value"])
                    self._send(200, {"ok": True})
                    return
                if self.path == "/_standin/orders_per_minute":
                    standin.writes.orders_per_minute = float(json.loads(raw)["value"])
                    self._send(200, {"ok": True})
                    return
                if not PATH.match(self.path):
                    self._send(404, {"errors": "Not Found"})
                    return
                given = self.headers.get("X-Shopify-Access-Token") or ""
                if given != standin.token and not standin.oauth.valid(given):
                    self._send(401, UNAUTHORIZED)
                    return
                try:
                    body = json.loads(raw)
                    if not isinstance(body, dict):
                        raise ValueError
                except ValueError:
                    self._send(400, {"errors": {"query": "Required parameter missing or invalid"}})
                    return
                self._send(200, standin.execute(body))

        return Handler

    def start(self) -> ShopifyAdminStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--token",
        default=os.environ.get("SHOPIFY_ADMIN_TOKEN"),
        help="the token to accept (default: $SHOPIFY_ADMIN_TOKEN, kept off the command line)",
    )
    parser.add_argument("--shop", required=True)
    args = parser.parse_args()
    if not args.token:
        parser.error("no access token: set SHOPIFY_ADMIN_TOKEN or pass --token")
    server = ShopifyAdminStandIn(
        token=args.token,
        shop=args.shop,
        host=args.host,
        port=args.port,
        # Where Shopify's webhooks for our own writes go (the local shopify_webhook).
        webhook_url=os.environ.get("SHOPIFY_WEBHOOK_URL") or None,
        webhook_secret=os.environ.get("SHOPIFY_API_SECRET") or None,
        # The Dev Dashboard app whose client-credentials tokens it issues.
        client_id=os.environ.get("SHOPIFY_CLIENT_ID") or None,
        client_secret=os.environ.get("SHOPIFY_CLIENT_SECRET") or None,
        token_ttl=float(os.environ.get("SHOPIFY_TOKEN_TTL") or 86_399),
    )
    print(f"shopify_admin stand-in on {server.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
