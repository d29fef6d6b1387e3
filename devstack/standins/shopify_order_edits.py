"""Shopify's order editing in the stand-in: ``orderEditBegin``, ``orderEditSetQuantity``,
``orderEditAddVariant`` and ``orderEditCommit`` (Admin API 2026-10), as strict as Shopify.

* ``orderEditBegin(id:)``: a new ``CalculatedOrder`` (its own id) for an order the shop
  holds, with one ``CalculatedLineItem`` per line (``gid://shopify/CalculatedLineItem/<line
  id>``, ``quantity`` its current quantity, ``editableQuantity`` what is not fulfilled);
  refused for an unknown, cancelled or closed order.
* ``orderEditSetQuantity(id:, lineItemId:, quantity:)``: refused for an unknown or committed
  calculated order, an unknown calculated line item, a negative quantity, or one below what
  was fulfilled of the line.
* ``orderEditAddVariant(id:, variantId:, quantity:)``: refused for an unknown variant, a
  quantity under 1, or a variant already on the order (``allowDuplicates`` false).
* ``orderEditCommit(id:, notifyCustomer:, staffNote:)``: applies the staged lines to the order
  (``current_quantity`` changes, ``quantity`` keeps what was ordered, as Shopify's REST
  order does; added lines are new line items), recomputes the subtotal and total, and sends
  ``orders/edited`` (to a subscription for it only, as Shopify does) and ``orders/updated``.

Refusals are ``userErrors`` (``field`` and ``message``; Shopify's order-editing payloads use
the plain ``UserError``, no code). Each mutation is paid from the shop's cost bucket.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

MUTATION_COST = 10.0


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    money = {"amount": format(amount, "f"), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


def _changed(node: dict[str, Any], line_id: str) -> dict[str, Any]:
    """The answer of a change to a calculated order: the order and the line changed."""
    item = next(n for n in node["lineItems"]["nodes"] if n["id"] == line_id)
    return {
        "calculatedOrder": node,
        "calculatedLineItem": item,
        "orderEditSession": None,
        "userErrors": [],
    }


def _error(field: list[str], message: str) -> dict[str, Any]:
    return {"field": field, "message": message}


def fulfilled(rest: dict[str, Any], line: dict[str, Any]) -> int:
    """How many of ``line`` were fulfilled (the stand-in fulfils whole orders)."""
    current = int(line.get("current_quantity", line.get("quantity")) or 0)
    if "fulfillable_quantity" in line:
        return max(0, current - int(line["fulfillable_quantity"] or 0))
    return current if rest.get("fulfillment_status") == "fulfilled" else 0


class OrderEdits:
    def __init__(self, writes: Any) -> None:
        self.writes = writes
        self.standin = writes.standin
        self.lock = threading.RLock()
        #: calculated order gid → {"order": order gid, "lines": [...], "committed": bool}
        self.calculated: dict[str, dict[str, Any]] = {}
        self.commits: list[dict[str, Any]] = []  # what each commit said (staff note, ...)

    # ------------------------------------------------------------------ helpers
    def _charge(self, name: str) -> None:
        self.writes.shop.charge(MUTATION_COST)
        self.writes._count(name)

    def _refuse(self, name: str, payload: dict[str, Any], error: dict[str, Any]) -> Any:
        with self.writes.lock:
            self.writes.refused[name] = self.writes.refused.get(name, 0) + 1
        return {**payload, "userErrors": [error]}

    def _node(self, calc_id: str) -> dict[str, Any]:
        calc = self.calculated[calc_id]
        currency = calc["currency"]
        lines = [
            {
                "id": li["id"],
                "title": li["title"],
                "sku": li["sku"],
                "variantTitle": li.get("variant_title"),
                "quantity": li["quantity"],
                "editableQuantity": li["quantity"] - li["fulfilled"],
                "editableQuantityBeforeChanges": li["before"] - li["fulfilled"],
                "originalUnitPriceSet": _money(li["price"], currency),
                "restockable": True,
                "restocking": False,
                "variant": {"id": li["variant"]} if li.get("variant") else None,
            }
            for li in calc["lines"]
        ]
        subtotal = sum((li["price"] * li["quantity"] for li in calc["lines"]), Decimal("0"))
        return {
            "id": calc_id,
            "lineItems": {"nodes": lines, "pageInfo": {"hasNextPage": False, "endCursor": None}},
            "addedLineItems": {
                "nodes": [n for n, li in zip(lines, calc["lines"], strict=True) if li["added"]],
                "pageInfo": {"hasNextPage": False, "endCursor": None},
            },
            "subtotalPriceSet": _money(subtotal, currency),
            "totalPriceSet": _money(calc["base"] + subtotal, currency),
            "originalOrder": {"id": calc["order"]},
        }

    def _open(self, name: str, calc_id: str, payload: dict[str, Any]) -> Any:
        """The open calculated order ``calc_id``, or the refusal to answer with."""
        calc = self.calculated.get(calc_id)
        if calc is None:
            return None, self._refuse(
                name, payload, _error(["id"], "The calculated order does not exist.")
            )
        if calc["committed"]:
            return None, self._refuse(
                name, payload, _error(["id"], "The order edit has already been committed.")
            )
        return calc, None

    # ------------------------------------------------------------------ mutations
    def begin(self, args: dict[str, Any], store: Any) -> Any:
        self._charge("orderEditBegin")
        gid = str(args.get("id"))
        none = {"calculatedOrder": None, "orderEditSession": None}
        rest = self.writes._rest_order(gid)
        if rest is None:
            return self._refuse("orderEditBegin", none, _error(["id"], "Order does not exist."))
        if rest.get("cancelled_at"):
            error = _error(["id"], "Cannot edit a cancelled order.")
            return self._refuse("orderEditBegin", none, error)
        if rest.get("closed_at"):
            error = _error(["id"], "Cannot edit a closed (archived) order: unarchive it first.")
            return self._refuse("orderEditBegin", none, error)
        lines = []
        for line in rest.get("line_items") or []:
            current = int(line.get("current_quantity", line.get("quantity")) or 0)
            lines.append(
                {
                    "id": f"gid://shopify/CalculatedLineItem/{line['id']}",
                    "line_id": line["id"],
                    "title": line.get("title") or "",
                    "sku": line.get("sku"),
                    "variant_title": line.get("variant_title"),
                    "variant": f"gid://shopify/ProductVariant/{line['variant_id']}"
                    if line.get("variant_id")
                    else None,
                    "product_id": line.get("product_id"),
                    "price": Decimal(str(line.get("price") or "0")),
                    "quantity": current,
                    "before": current,
                    "fulfilled": fulfilled(rest, line),
                    "added": False,
                }
            )
        subtotal = sum((li["price"] * li["quantity"] for li in lines), Decimal("0"))
        calc_id = f"gid://shopify/CalculatedOrder/{self.writes._id()}"
        with self.lock:
            self.calculated[calc_id] = {
                "order": gid,
                "lines": lines,
                "committed": False,
                "currency": rest.get("currency") or "USD",
                "base": Decimal(str(rest.get("total_price") or "0")) - subtotal,
            }
        node = self._node(calc_id)
        session = {"id": f"gid://shopify/OrderEditSession/{calc_id.rsplit('/', 1)[-1]}"}
        return {"calculatedOrder": node, "orderEditSession": session, "userErrors": []}

    def set_quantity(self, args: dict[str, Any], store: Any) -> Any:
        name = "orderEditSetQuantity"
        self._charge(name)
        none = {"calculatedOrder": None, "calculatedLineItem": None, "orderEditSession": None}
        with self.lock:
            calc, refused = self._open(name, str(args.get("id")), none)
            if refused:
                return refused
            quantity = int(args.get("quantity"))  # type: ignore[arg-type]
            found = [li for li in calc["lines"] if li["id"] == args.get("lineItemId")]
            if not found:
                error = _error(["lineItemId"], "The calculated line item does not exist.")
                return self._refuse(name, none, error)
            (line,) = found
            if quantity < 0:
                error = _error(["quantity"], "Quantity must be greater than or equal to 0.")
                return self._refuse(name, none, error)
            if quantity < line["fulfilled"]:
                error = _error(
                    ["quantity"],
                    f"Cannot reduce the quantity of {line['title']} below its fulfilled "
                    f"quantity ({line['fulfilled']}).",
                )
                return self._refuse(name, none, error)
            line["quantity"] = quantity
            node = self._node(str(args["id"]))
        return _changed(node, line["id"])

    def add_variant(self, args: dict[str, Any], store: Any) -> Any:
        name = "orderEditAddVariant"
        self._charge(name)
        none = {"calculatedOrder": None, "calculatedLineItem": None, "orderEditSession": None}
        with self.lock:
            calc, refused = self._open(name, str(args.get("id")), none)
            if refused:
                return refused
            quantity = int(args.get("quantity"))  # type: ignore[arg-type]
            gid = str(args.get("variantId"))
            variant = self.writes._variant(gid)
            if variant is None:
                return self._refuse(name, none, _error(["variantId"], "Variant does not exist."))
            if quantity < 1:
                error = _error(["quantity"], "Quantity must be greater than 0.")
                return self._refuse(name, none, error)
            if not args.get("allowDuplicates") and any(
                li["variant"] == gid for li in calc["lines"]
            ):
                error = _error(["variantId"], "The variant is already on the order.")
                return self._refuse(name, none, error)
            product = variant["_product"]
            line = {
                "id": f"gid://shopify/CalculatedLineItem/{self.writes._id()}",
                "line_id": None,
                "title": product.get("title") or "",
                "sku": variant.get("sku"),
                "variant_title": variant.get("title"),
                "variant": gid,
                "product_id": int(str(product["id"]).rsplit("/", 1)[-1]),
                "price": Decimal(str(variant.get("price") or "0")),
                "quantity": quantity,
                "before": 0,
                "fulfilled": 0,
                "added": True,
            }
            calc["lines"].append(line)
            node = self._node(str(args["id"]))
        return _changed(node, line["id"])

    def commit(self, args: dict[str, Any], store: Any) -> Any:
        name = "orderEditCommit"
        self._charge(name)
        none = {"order": None, "successMessages": None}
        with self.lock:
            calc, refused = self._open(name, str(args.get("id")), none)
            if refused:
                return refused
            rest = self.writes._rest_order(calc["order"])
            if rest is None or rest.get("cancelled_at"):
                error = _error(["id"], "Cannot edit a cancelled order.")
                return self._refuse(name, none, error)
            calc["committed"] = True
        with self.writes.lock:
            by_id = {line["id"]: line for line in rest["line_items"]}
            additions, removals = [], []
            for li in calc["lines"]:
                if li["line_id"] is not None:
                    line = by_id[li["line_id"]]
                    if li["quantity"] != li["before"]:
                        delta = li["quantity"] - li["before"]
                        (additions if delta > 0 else removals).append(
                            {"id": line["id"], "delta": abs(delta)}
                        )
                    line["current_quantity"] = li["quantity"]
                    line["fulfillable_quantity"] = li["quantity"] - li["fulfilled"]
                    continue
                new_id = self.writes._id()
                rest["line_items"].append(
                    {
                        "id": new_id,
                        "variant_id": int(li["variant"].rsplit("/", 1)[-1]),
                        "product_id": li["product_id"],
                        "sku": li["sku"],
                        "title": li["title"],
                        "variant_title": li["variant_title"],
                        "quantity": li["quantity"],
                        "current_quantity": li["quantity"],
                        "fulfillable_quantity": li["quantity"],
                        "price": format(li["price"], "f"),
                        "total_discount": "0.00",
                    }
                )
                additions.append({"id": new_id, "delta": li["quantity"]})
            old_subtotal = Decimal(str(rest.get("subtotal_price") or "0"))
            subtotal = sum(
                (
                    Decimal(str(line.get("price") or "0"))
                    * int(line.get("current_quantity", line.get("quantity")) or 0)
                    for line in rest["line_items"]
                ),
                Decimal("0"),
            )
            total = Decimal(str(rest.get("total_price") or "0")) + subtotal - old_subtotal
            stamp = self.writes_now()
            rest.update(
                subtotal_price=format(subtotal, "f"),
                total_price=format(total, "f"),
                updated_at=stamp,
            )
            if rest.get("fulfillment_status") == "fulfilled" and any(
                int(line.get("fulfillable_quantity") or 0) > 0 for line in rest["line_items"]
            ):
                rest["fulfillment_status"] = "partial"
        self.writes.shop.put_order(rest)
        self.commits.append(
            {
                "order": calc["order"],
                "calculated_order": str(args["id"]),
                "notify_customer": bool(args.get("notifyCustomer")),
                "staff_note": args.get("staffNote"),
            }
        )
        edited = {
            "order_edit": {
                "id": int(str(args["id"]).rsplit("/", 1)[-1]),
                "app_id": self.writes_app_id(),
                "created_at": stamp,
                "committed_at": stamp,
                "notify_customer": bool(args.get("notifyCustomer")),
                "order_id": rest["id"],
                "staff_note": args.get("staffNote") or "",
                "user_id": None,
                "line_items": {"additions": additions, "removals": removals},
            }
        }
        self.send_if_subscribed("orders/edited", edited)
        self.writes.send("orders/updated", rest)
        late = self.writes._fault("orderEditCommit")
        if late:
            time.sleep(late)  # committed; the answer comes after the caller gave up
        order = dict(self.writes.shop.nodes["orders"][calc["order"]])
        return {"order": order, "successMessages": ["Order updated"], "userErrors": []}

    # ------------------------------------------------------------------ webhooks
    def send_if_subscribed(self, topic: str, payload: dict[str, Any]) -> None:
        """Shopify sends a topic only to its subscriptions: ``orders/edited`` is recorded as
        not sent unless the app subscribed to ``ORDERS_EDITED``."""
        wanted = topic.upper().replace("/", "_")
        if any(s["topic"] == wanted for s in self.standin.subscriptions):
            self.writes.send(topic, payload)
            return
        with self.writes.lock:
            self.writes.sent.append(
                {"topic": topic, "id": payload["order_edit"]["id"], "status": "not subscribed"}
            )

    def writes_now(self) -> str:
        from devstack.standins.shopify_writes import _now

        return _now()

    def writes_app_id(self) -> int:
        from devstack.standins.shopify_writes import APP_ID

        return APP_ID


def install(standin: Any, writes: Any) -> OrderEdits:
    edits = OrderEdits(writes)
    standin.register("orderEditBegin", edits.begin)
    standin.register("orderEditSetQuantity", edits.set_quantity)
    standin.register("orderEditAddVariant", edits.add_variant)
    standin.register("orderEditCommit", edits.commit)
    standin.costed.update(
        {"orderEditBegin", "orderEditSetQuantity", "orderEditAddVariant", "orderEditCommit"}
    )
    return edits
