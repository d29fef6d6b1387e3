"""Products in the CRM app (issue 24): the reads, the edit form, the event. No Flask here.

An owner's edit or new product is one canonical ``product.upserted`` event from source
``manual`` (entity ``product``, the whole product as the page holds it, with
``changed_by``). crm_writer stores it in ``product_events`` like Shopify's versions, so the
``products`` view (newest version per shop and product id) and the order form's catalogue
show it at once; ``shopify_sync`` writes it to Shopify when ``outbound.products`` is on.

* A product that came from Shopify keeps Shopify's id; one made here gets
  ``crm-<16 hex>``, and Shopify's echo of its creation joins it by its
  ``orderhub-product:`` tag (``orderhub.shopify.markers``).
* ``stock_set`` on a variant lists only the locations whose stock the owner changed in this
  version (``location_id``, ``quantity``, ``was``: what the page showed), so a price edit
  never overwrites Shopify's live stock.
* Each rendering of the form carries a token (``manual.new_form_token``): the event id and
  a new product's id derive from it, so a double tap is one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from orderhub.event import Event, iso, make_event, stable_id, version_of
from orderhub.order_form.queries import PRODUCT_VERSIONS

SOURCE = "manual"
STATUSES = ("active", "draft", "archived")
WEIGHT_UNITS = ("kg", "g", "lb", "oz")
MAX_VARIANTS = 50
MAX_TEXT = 5000
TOKEN_MAX_AGE = timedelta(days=2)
VARIANT_FIELDS = (
    "variant_id",
    "inventory_item_id",
    "sku",
    "title",
    "price",
    "compare_at_price",
    "barcode",
    "weight",
    "weight_unit",
)


class Invalid(ValueError):
    """The form has errors: ``errors`` maps a field name to what is wrong, in words."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def new_product_id(token: str) -> str:
    return "crm-" + stable_id("product", token)[:16]


def _money(text: str, field: str, errors: dict[str, str], *, required: bool) -> str | None:
    text = text.strip().replace(",", ".")
    if not text:
        if required:
            errors[field] = "a price is needed"
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors[field] = "write an amount, e.g. 12.50"
        return None
    if value < 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        errors[field] = "a positive amount with at most two decimals"
        return None
    return str(value.quantize(Decimal("0.01")))


def parse_form(form: Mapping[str, str], current: dict[str, Any] | None) -> dict[str, Any]:
    """The product entity the form describes (on top of ``current``: fields the page does
    not edit are kept); ``Invalid`` with every error."""
    errors: dict[str, str] = {}
    title = (form.get("title") or "").strip()[:255]
    if not title:
        errors["title"] = "a title is needed"
    status = (form.get("status") or "active").strip().lower()
    if status not in STATUSES:
        errors["status"] = "active, draft or archived"
    images = [
        line.strip()
        for line in (form.get("images") or "").splitlines()
        if line.strip().startswith(("https://", "http://"))
    ][:20]
    old_variants = {str(v.get("variant_id")): v for v in (current or {}).get("variants") or [] if v}
    variants: list[dict[str, Any]] = []
    skus: set[str] = set()
    for n in range(MAX_VARIANTS):
        key = f"variants-{n}-"
        if not any(f"{key}{f}" in form for f in VARIANT_FIELDS):
            break
        row = {f: (form.get(f"{key}{f}") or "").strip()[:255] for f in VARIANT_FIELDS}
        if not any(row[f] for f in ("sku", "title", "price")) and not row["variant_id"]:
            continue  # the blank row for a new variant, left blank
        sku = row["sku"] or None
        if sku and sku in skus:
            errors[f"{key}sku"] = "each variant needs its own SKU"
        if sku:
            skus.add(sku)
        weight = row["weight"].replace(",", ".") or None
        if weight is not None:
            try:
                if Decimal(weight) < 0:
                    raise InvalidOperation
            except InvalidOperation:
                errors[f"{key}weight"] = "a positive number"
                weight = None
        unit = row["weight_unit"] or "kg"
        if unit not in WEIGHT_UNITS:
            errors[f"{key}weight_unit"] = "kg, g, lb or oz"
        old = old_variants.get(row["variant_id"], {})
        variant: dict[str, Any] = {
            **old,
            "variant_id": row["variant_id"] or f"new-{n + 1}",
            "inventory_item_id": row["inventory_item_id"] or old.get("inventory_item_id"),
            "sku": sku,
            "title": row["title"] or "Default Title",
            "price": _money(row["price"], f"{key}price", errors, required=True),
            "compare_at_price": _money(
                row["compare_at_price"], f"{key}compare_at_price", errors, required=False
            ),
            "barcode": row["barcode"] or None,
            "weight": weight,
            "weight_unit": unit,
            # A variant keeps its option values (Shopify's ``option1..3``) while its title
            # is unchanged; else its title is its one value.
            "options": old.get("options")
            if old.get("options") and old.get("title") == (row["title"] or "Default Title")
            else [row["title"] or "Default Title"],
        }
        variant.pop("stock_set", None)
        stock = _stock(form, key, errors)
        if stock:
            variant["stock_set"] = stock
        variants.append(variant)
    if not variants:
        errors["variants-0-price"] = "a product needs at least one variant with a price"
    if errors:
        raise Invalid(errors)
    base = dict(current or {})
    names = [str(n) for n in base.get("options") or [] if n]
    if not names or any(len(v["options"]) != len(names) for v in variants):
        names = ["Title"]
        for variant in variants:
            variant["options"] = [variant["title"]]
    return {
        **base,
        "title": title,
        "description": (form.get("description") or "").strip()[:MAX_TEXT] or None,
        "status": status,
        "vendor": (form.get("vendor") or "").strip()[:255] or None,
        "product_type": (form.get("product_type") or "").strip()[:255] or None,
        "tags": [t.strip() for t in (form.get("tags") or "").split(",") if t.strip()][:50],
        "images": images,
        "image_url": images[0] if images else None,
        "options": names,
        "variants": variants,
    }


def _stock(form: Mapping[str, str], key: str, errors: dict[str, str]) -> list[dict[str, Any]]:
    """The locations whose stock the owner changed: ``{key}stock-<n>-location_id``,
    ``-quantity`` and ``-was`` (what the page showed)."""
    changed = []
    for m in range(20):
        at = f"{key}stock-{m}-"
        location = (form.get(f"{at}location_id") or "").strip()
        if not location:
            break
        typed = (form.get(f"{at}quantity") or "").strip()
        was = (form.get(f"{at}was") or "").strip()
        if typed == was or not typed:
            continue
        try:
            quantity = int(typed)
        except ValueError:
            errors[f"{at}quantity"] = "a whole number"
            continue
        changed.append(
            {
                "location_id": location,
                "quantity": quantity,
                "was": int(was) if was.lstrip("-").isdigit() else None,
            }
        )
    return changed


@dataclass(frozen=True)
class Owner:
    id: str
    name: str


def product_event(
    entity: dict[str, Any], *, product_id: str, shop: str, owner: Owner, token: str, at: datetime
) -> Event:
    """The ``product.upserted`` event of an owner's edit (or new product)."""
    whole = {
        **entity,
        "product_id": product_id,
        "changed_by": owner.id,
        "changed_by_name": owner.name,
        "updated_at": at.isoformat(),
    }
    return make_event(
        event_type="product.upserted",
        source=SOURCE,
        shop=shop,
        occurred_at=at,
        version=version_of(at),
        entity_id=product_id,
        entity=whole,
        id_parts=("product-edit", token),
    )


def delete_event(
    entity: dict[str, Any],
    *,
    product_id: str,
    shop: str,
    owner: Owner,
    token: str,
    at: datetime,
    in_shopify: bool,
) -> Event:
    """The ``product.deleted`` event of an owner's delete: the views drop the product and
    ``shopify_sync`` removes its link; Shopify's product is deleted only if ``in_shopify``."""
    return make_event(
        event_type="product.deleted",
        source=SOURCE,
        shop=shop,
        occurred_at=at,
        version=version_of(at),
        entity_id=product_id,
        entity={
            "product_id": product_id,
            "title": entity.get("title"),
            "deleted": True,
            "delete_in_shopify": in_shopify,
            "shopify_product_id": entity.get("shopify_product_id"),
            "changed_by": owner.id,
            "changed_by_name": owner.name,
        },
        id_parts=("product-delete", token),
    )


# ------------------------------------------------------------------ reads
# Base tables only (the app's grants, ``queries.TABLES_READ``): ``product_events`` and
# ``sync_log``, each read for its newest row, as the views would.
LIST_SQL = """
WITH latest AS (
  SELECT product_id, title, status, source, occurred_at, variants, deleted
  FROM {versions}
  WHERE shop = @shop
  QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, product_id ORDER BY version DESC, event_id) = 1
), sync AS (
  SELECT record_id, status, reason FROM `{t}.sync_log`
  WHERE shop = @shop AND direction = 'outbound' AND entity = 'product'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY record_id ORDER BY attempted_at DESC, log_id DESC) = 1
)
SELECT l.product_id, l.title, l.status, l.source, l.occurred_at AS updated_at,
       ARRAY_LENGTH(l.variants) AS variants,
       (SELECT SUM(COALESCE(v.inventory_quantity, 0)) FROM UNNEST(l.variants) AS v) AS stock,
       (SELECT CAST(MIN(v.price) AS STRING) FROM UNNEST(l.variants) AS v) AS price_from,
       s.status AS sync, s.reason AS sync_reason
FROM latest AS l
LEFT JOIN sync AS s ON s.record_id = l.product_id
WHERE COALESCE(l.deleted, FALSE) = FALSE
  AND (
    @needle = ''
    OR STRPOS(LOWER(COALESCE(l.title, '')), @needle) > 0
    OR EXISTS (
      SELECT 1 FROM UNNEST(l.variants) AS v WHERE STRPOS(LOWER(COALESCE(v.sku, '')), @needle) > 0
    )
  )
ORDER BY l.title, l.product_id
LIMIT 200
""".replace("{versions}", PRODUCT_VERSIONS)

PAGE_SQL = """
SELECT product_id, source, TO_JSON_STRING(entity) AS entity_json, occurred_at, version,
       event_id, event_type
FROM {versions}
WHERE shop = @shop AND product_id = @id
QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, product_id ORDER BY version DESC, event_id) = 1
""".replace("{versions}", PRODUCT_VERSIONS)

SYNC_SQL = """
SELECT status, reason, shopify_id, attempted_at AS updated_at FROM `{t}.sync_log`
WHERE shop = @shop AND direction = 'outbound' AND entity = 'product' AND record_id = @id
ORDER BY attempted_at DESC, log_id DESC LIMIT 1
"""


def list_products(run: Any, *, shop: str, needle: str) -> list[dict[str, Any]]:
    params = [("shop", "STRING", shop), ("needle", "STRING", needle.strip().lower()[:100])]
    return list(run(LIST_SQL, params))


def product_page(run: Any, *, shop: str, product_id: str) -> dict[str, Any] | None:
    """The newest version of one product (its whole entity), or None; ``sync`` beside it."""
    import json

    params = [("shop", "STRING", shop), ("id", "STRING", product_id)]
    rows = run(PAGE_SQL, params)
    if not rows:
        return None
    entity: Any = rows[0]["entity_json"]
    while isinstance(entity, str):  # JSON columns come back as text, sometimes twice
        entity = json.loads(entity)
    if not isinstance(entity, dict) or entity.get("deleted"):
        return None
    sync = run(SYNC_SQL, params)
    row = rows[0]
    occurred = row["occurred_at"]
    event: Event = {
        "schema_version": 1,
        "event_id": str(row["event_id"]),
        "event_type": str(row["event_type"]),
        "source": str(row["source"]),
        "shop": shop,
        "occurred_at": occurred if isinstance(occurred, str) else iso(occurred),
        "version": int(row["version"]),
        "entity_type": "product",
        "entity_id": product_id,
        "entity": entity,
    }
    return {
        "entity": entity,
        "source": row["source"],
        "version": row["version"],
        "sync": sync[0] if sync else None,
        "event": event,
    }


def shopify_gid(product_id: str, entity: dict[str, Any]) -> str | None:
    """The Shopify product this CRM product is, when known from the data alone."""
    legacy = entity.get("shopify_product_id") or (product_id if product_id.isdigit() else None)
    return f"gid://shopify/Product/{legacy}" if legacy else None
