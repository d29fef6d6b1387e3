"""What the Shopify stand-in does for ``shopify_sync``'s product writes (issue 24).

Installed on a ``ShopifyAdminStandIn`` by ``shopify_writes.install``. It answers, as the
2026-10 Admin API documents (every request is first checked against the schema):

* ``locations(first:)``: the shop's locations (two active, one inactive, which takes no
  stock);
* ``products(query: "tag:\\"…\\"")``: quoted tag search (other queries go to the shop's
  paging as before);
* ``productSet(identifier:, input:)``: create, or update by ``identifier.id``, with *set*
  semantics (variants given replace the product's variants: matched by ``id``, new ones
  created, omitted ones deleted). Refused as Shopify refuses: no title on create
  (``INVALID_PRODUCT``), an unknown product id (``PRODUCT_DOES_NOT_EXIST``), variants
  without ``productOptions`` (``PRODUCT_OPTIONS_INPUT_MISSING``), a variant option or value
  not among the product's options (``OPTION_DOES_NOT_EXIST`` /
  ``OPTION_VALUE_DOES_NOT_EXIST``), an unknown variant id (``PRODUCT_VARIANT_DOES_NOT_EXIST``),
  a negative price (``INVALID_VARIANT``). Each accepted call sends ``products/create`` or
  ``products/update``, the REST payload Shopify sends;
* ``productDelete(input: {id})``: deletes and sends ``products/delete``; an unknown id is
  refused;
* ``inventorySetQuantities(input:) @idempotent(key:)``: the directive is required since
  2026-04 (a request without it is refused whole); a repeated key answers again without
  changing anything; ``name`` must be ``available`` or ``on_hand`` (``INVALID_NAME``), the
  reason one of Shopify's (``INVALID_REASON``), the location known and active
  (``INVALID_LOCATION``), the item known (``INVALID_INVENTORY_ITEM``); ``changeFromQuantity``
  must be given (``null`` opts out of the compare; a stale number is
  ``CHANGE_FROM_QUANTITY_STALE``; left out: ``COMPARE_QUANTITY_REQUIRED``).

Each write is paid from the shop's cost bucket (10 points). Tests read ``/_standin/writes``
(``counts``: productSet, inventorySetQuantities) and ``/_standin/stock``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MUTATION_COST = 10.0
LOCATIONS = (
    {"id": "gid://shopify/Location/1", "name": "Main warehouse", "isActive": True},
    {"id": "gid://shopify/Location/2", "name": "Shop floor", "isActive": True},
    {"id": "gid://shopify/Location/3", "name": "Old depot", "isActive": False},
)
#: Shopify's documented inventory change reasons (``inventorySetQuantities``).
REASONS = {
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
}
QUOTED = re.compile(r'(\w+):"((?:[^"\\]|\\.)*)"')


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _error(field: list[str], message: str, code: str) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}


def _money(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    except InvalidOperation:
        return "invalid"


class Products:
    """Products, variants, inventory items and levels of the stand-in's shop."""

    def __init__(self, writes: Any) -> None:
        self.writes = writes
        self.shop = writes.shop  # ShopifyStore: nodes["products"] is what reads see
        #: (inventory item gid, location gid) → available
        self.levels: dict[tuple[str, str], int] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ reads
    def locations(self, args: dict[str, Any], store: Any) -> Any:
        wanted = [loc for loc in LOCATIONS if loc["isActive"] or args.get("includeInactive")]
        return [{**loc, "fulfillsOnlineOrders": True} for loc in wanted]

    def products_field(self, args: dict[str, Any], store: Any) -> Any:
        terms = QUOTED.findall(str(args.get("query") or ""))
        tags = [v.replace('\\"', '"').replace("\\\\", "\\") for k, v in terms if k == "tag"]
        if not tags:
            return self.shop.field("products", args)
        with self.writes.lock:
            nodes = [
                p
                for p in self.shop.nodes["products"].values()
                if all(t in (p.get("tags") or []) for t in tags)
            ]
        return {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}

    def stock(self) -> list[dict[str, Any]]:
        with self.writes.lock:
            return [
                {"inventory_item_id": item, "location_id": loc, "available": qty}
                for (item, loc), qty in sorted(self.levels.items())
            ]

    # ------------------------------------------------------------- productSet
    def product_set(self, args: dict[str, Any], store: Any) -> Any:
        self.shop.charge(MUTATION_COST)
        identifier = args.get("identifier") or {}
        data = args.get("input") or {}
        with self.writes.lock:
            current = None
            if identifier.get("id"):
                current = self.shop.nodes["products"].get(str(identifier["id"]))
                if current is None:
                    return self._refuse(
                        ["identifier", "id"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST"
                    )
            errors = self._check(data, current)
            if errors:
                self.writes._count("productSet", refused=True)
                return {"product": None, "productSetOperation": None, "userErrors": errors}
            node = self._apply(data, current)
        self.writes._count("productSet")
        pause = self.writes._fault("productSet")
        self.writes.send("products/create" if current is None else "products/update", rest(node))
        if pause:
            import time

            time.sleep(pause)  # written, but the answer comes late (a client timeout)
        return {"product": node, "productSetOperation": None, "userErrors": []}

    def _refuse(self, field: list[str], message: str, code: str) -> Any:
        self.writes._count("productSet", refused=True)
        return {
            "product": None,
            "productSetOperation": None,
            "userErrors": [_error(field, message, code)],
        }

    def _check(self, data: dict[str, Any], current: dict[str, Any] | None) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        if current is None and not str(data.get("title") or "").strip():
            errors.append(_error(["input", "title"], "Title can't be blank", "INVALID_PRODUCT"))
        variants = data.get("variants")
        options = data.get("productOptions")
        if variants and not options:
            errors.append(
                _error(
                    ["input", "productOptions"],
                    "Options input is required when updating variants",
                    "PRODUCT_OPTIONS_INPUT_MISSING",
                )
            )
            return errors
        values = {
            str(o.get("name")): {str(v.get("name")) for v in o.get("values") or []}
            for o in options or []
        }
        known = {v["id"] for v in (current or {}).get("variants") or []}
        for n, variant in enumerate(variants or []):
            at = ["input", "variants", str(n)]
            for chosen in variant.get("optionValues") or []:
                name = str(chosen.get("optionName") or "")
                if name not in values:
                    errors.append(
                        _error(
                            [*at, "optionValues"],
                            f"Option '{name}' does not exist",
                            "OPTION_DOES_NOT_EXIST",
                        )
                    )
                elif str(chosen.get("name") or "") not in values[name]:
                    errors.append(
                        _error(
                            [*at, "optionValues"],
                            f"Option value '{chosen.get('name')}' does not exist",
                            "OPTION_VALUE_DOES_NOT_EXIST",
                        )
                    )
            if not variant.get("optionValues"):
                errors.append(
                    _error(
                        [*at, "optionValues"],
                        "Option values are required for each variant",
                        "OPTION_VALUES_MISSING",
                    )
                )
            if variant.get("id") and variant["id"] not in known:
                errors.append(
                    _error(
                        [*at, "id"],
                        "Product variant does not exist",
                        "PRODUCT_VARIANT_DOES_NOT_EXIST",
                    )
                )
            for key in ("price", "compareAtPrice"):
                amount = _money(variant.get(key))
                if amount == "invalid" or (amount is not None and Decimal(amount) < 0):
                    errors.append(
                        _error([*at, key], f"{key} must be a positive amount", "INVALID_VARIANT")
                    )
        return errors

    def _apply(self, data: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        stamp = _now()
        if current is None:
            number = self.writes._id()
            title = str(data.get("title"))
            current = {
                "id": f"gid://shopify/Product/{number}",
                "legacyResourceId": str(number),
                "createdAt": stamp,
                "handle": data.get("handle")
                or re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"),
                "variants": [],
                "status": "ACTIVE",
                "tags": [],
                "images": [],
            }
        node = dict(current)
        for key in ("title", "vendor", "productType", "descriptionHtml", "handle", "status"):
            if key in data and data[key] is not None:
                node[key] = data[key]
        if "tags" in data:
            node["tags"] = list(data.get("tags") or [])
        if "files" in data:
            node["images"] = [
                {"src": f.get("originalSource"), "alt": f.get("alt")} for f in data["files"] or []
            ]
        if "productOptions" in data:
            node["options"] = [
                {"name": o.get("name"), "values": [v.get("name") for v in o.get("values") or []]}
                for o in data["productOptions"] or []
            ]
        if "variants" in data:
            old = {v["id"]: v for v in current.get("variants") or []}
            variants = []
            for given in data["variants"] or []:
                variant = dict(old.get(given.get("id") or "", {}))
                if not variant:
                    number = self.writes._id()
                    variant = {
                        "id": f"gid://shopify/ProductVariant/{number}",
                        "legacyResourceId": str(number),
                        "inventoryItem": {"id": f"gid://shopify/InventoryItem/{number}"},
                        "inventoryQuantity": 0,
                    }
                for key in ("sku", "barcode"):
                    if key in given:
                        variant[key] = given[key]
                for key in ("price", "compareAtPrice"):
                    if key in given:
                        variant[key] = _money(given[key])
                chosen = [
                    {"name": c.get("optionName"), "value": c.get("name")}
                    for c in given.get("optionValues") or []
                ]
                variant["selectedOptions"] = chosen
                variant["title"] = " / ".join(str(c["value"]) for c in chosen) or "Default Title"
                weight = ((given.get("inventoryItem") or {}).get("measurement") or {}).get("weight")
                if weight:
                    variant["weight"] = {"value": weight.get("value"), "unit": weight.get("unit")}
                variants.append(variant)
            node["variants"] = variants
        node["updatedAt"] = stamp
        self.shop.put("products", node)
        return node

    # ---------------------------------------------------------- productDelete
    def product_delete(self, args: dict[str, Any], store: Any) -> Any:
        self.shop.charge(MUTATION_COST)
        gid = str((args.get("input") or {}).get("id") or "")
        with self.writes.lock:
            node = self.shop.nodes["products"].pop(gid, None)
        if node is None:
            self.writes._count("productDelete", refused=True)
            return {
                "deletedProductId": None,
                "userErrors": [{"field": ["id"], "message": "Product does not exist"}],
            }
        self.writes._count("productDelete")
        self.writes.send("products/delete", {"id": int(node["legacyResourceId"])})
        return {"deletedProductId": gid, "userErrors": []}

    # ------------------------------------------------------- inventorySetQuantities
    def inventory_set(self, args: dict[str, Any], store: Any, key: str) -> Any:
        self.shop.charge(MUTATION_COST)
        data = args.get("input") or {}
        with self.writes.lock:
            if key in self.idempotency:
                self.writes._count("inventorySetQuantities")
                return self.idempotency[key]
            errors = []
            if data.get("name") not in ("available", "on_hand"):
                errors.append(
                    _error(["input", "name"], "The quantity name is invalid", "INVALID_NAME")
                )
            if data.get("reason") not in REASONS:
                errors.append(
                    _error(["input", "reason"], "The reason is invalid", "INVALID_REASON")
                )
            items = {
                v["inventoryItem"]["id"]: v
                for p in self.shop.nodes["products"].values()
                for v in p.get("variants") or []
                if v.get("inventoryItem")
            }
            active = {loc["id"] for loc in LOCATIONS if loc["isActive"]}
            for n, q in enumerate(data.get("quantities") or []):
                at = ["input", "quantities", str(n)]
                if q.get("locationId") not in active:
                    errors.append(
                        _error(
                            [*at, "locationId"],
                            "The specified location could not be found",
                            "INVALID_LOCATION",
                        )
                    )
                if q.get("inventoryItemId") not in items:
                    errors.append(
                        _error(
                            [*at, "inventoryItemId"],
                            "The specified inventory item could not be found",
                            "INVALID_INVENTORY_ITEM",
                        )
                    )
                level = self.levels.get((q.get("inventoryItemId"), q.get("locationId")), 0)
                if "changeFromQuantity" not in q:
                    errors.append(
                        _error(
                            [*at, "changeFromQuantity"],
                            "The changeFromQuantity must be given (null opts out)",
                            "COMPARE_QUANTITY_REQUIRED",
                        )
                    )
                elif q["changeFromQuantity"] is not None and q["changeFromQuantity"] != level:
                    errors.append(
                        _error(
                            [*at, "changeFromQuantity"],
                            "The changeFromQuantity value does not match persisted value",
                            "CHANGE_FROM_QUANTITY_STALE",
                        )
                    )
            if errors:
                self.writes._count("inventorySetQuantities", refused=True)
                answer = {"inventoryAdjustmentGroup": None, "userErrors": errors}
                self.idempotency[key] = answer
                return answer
            changes = []
            for q in data.get("quantities") or []:
                where = (q["inventoryItemId"], q["locationId"])
                delta = int(q["quantity"]) - self.levels.get(where, 0)
                self.levels[where] = int(q["quantity"])
                changes.append({"name": data["name"], "delta": delta, "quantityAfterChange": None})
                variant = items[q["inventoryItemId"]]
                variant["inventoryQuantity"] = sum(
                    qty for (item, _loc), qty in self.levels.items() if item == q["inventoryItemId"]
                )
            number = self.writes._id()
            answer = {
                "inventoryAdjustmentGroup": {
                    "id": f"gid://shopify/InventoryAdjustmentGroup/{number}",
                    "reason": data["reason"],
                    "changes": changes,
                },
                "userErrors": [],
            }
            self.idempotency[key] = answer
        self.writes._count("inventorySetQuantities")
        return answer


def rest(node: dict[str, Any]) -> dict[str, Any]:
    """The REST payload of a product, as ``products/create`` and ``products/update`` send it."""
    legacy = int(node["legacyResourceId"])
    return {
        "id": legacy,
        "admin_graphql_api_id": node["id"],
        "title": node.get("title"),
        "body_html": node.get("descriptionHtml"),
        "vendor": node.get("vendor"),
        "product_type": node.get("productType"),
        "handle": node.get("handle"),
        "status": str(node.get("status") or "ACTIVE").lower(),
        "tags": ", ".join(node.get("tags") or []),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "options": [
            {"name": o["name"], "position": n + 1, "values": o["values"]}
            for n, o in enumerate(node.get("options") or [])
        ],
        "images": [{"src": i["src"], "alt": i.get("alt")} for i in node.get("images") or []],
        "image": ({"src": node["images"][0]["src"]} if node.get("images") else None),
        "variants": [
            {
                "id": int(v["legacyResourceId"]),
                "admin_graphql_api_id": v["id"],
                "product_id": legacy,
                "title": v.get("title"),
                "sku": v.get("sku"),
                "price": v.get("price"),
                "compare_at_price": v.get("compareAtPrice"),
                "barcode": v.get("barcode"),
                "inventory_item_id": int(
                    str((v.get("inventoryItem") or {}).get("id") or "0").rsplit("/", 1)[-1]
                ),
                "inventory_quantity": v.get("inventoryQuantity"),
                "weight": (v.get("weight") or {}).get("value"),
                "weight_unit": _rest_unit((v.get("weight") or {}).get("unit")),
                **{
                    f"option{n + 1}": c.get("value")
                    for n, c in enumerate(v.get("selectedOptions") or [])
                },
                "updated_at": node.get("updatedAt"),
            }
            for v in node.get("variants") or []
        ],
    }


def _rest_unit(unit: Any) -> str | None:
    return {"KILOGRAMS": "kg", "GRAMS": "g", "POUNDS": "lb", "OUNCES": "oz"}.get(str(unit))


def install(standin: Any, writes: Any) -> Products:
    products = Products(writes)
    standin.register("locations", products.locations)
    standin.register("products", products.products_field)
    standin.register("productSet", products.product_set)
    standin.register("productDelete", products.product_delete)
    standin.costed.update({"productSet", "inventorySetQuantities", "productDelete"})
    return products
