"""Products made or edited in the CRM app → Shopify (issue 24): ``productSet`` and
``inventorySetQuantities``, behind the shop's ``outbound.products`` switch (off by default).

**What is written.** The newest CRM version of the product, whole: title, description,
status, vendor, type, tags, its variants (SKU, price, compare-at price, barcode, weight) as
``productSet`` sets them (the variants given replace Shopify's). Variants are matched to
Shopify's by SKU, else by the id the CRM holds (a product that came from Shopify). Images
go with a product's creation only (``files`` would replace the product's media). Stock:
only the locations an owner changed in this version (``stock_set``), with
``changeFromQuantity`` = what the page showed, so Shopify refuses a stale number.

**Exactly once.** Each version is claimed once (``links``, key ``product_version``): a
redelivery finds it done and writes nothing. A product made in the CRM is created under a
second claim (key ``product``, which then holds the Shopify id and the newest version
sent): the tag ``orderhub-product:<crm id>`` is looked up before creating, and a create
whose answer was lost stays claimed (``uncertain``) until the lookup finds it. An update
whose answer was lost is compared with Shopify's product on the next attempt and not
sent again when Shopify already holds it. ``inventorySetQuantities`` carries an
idempotency key derived from the event, so Shopify applies it once however often it is
sent.

**No echo loop.** Shopify's ``products/update`` for our write is a ``shopify`` event:
``handle`` never writes those back. It joins the CRM product (same id; a product made here
by its tag) as the newest version, with the same values.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from orderhub.errors import ConfigError, TransientError
from orderhub.event import stable_id
from orderhub.shopify import markers
from orderhub.shopify.writer import Refused, ShopifyProduct, ShopifyWriter, UserError

WEIGHT_UNITS = {"kg": "KILOGRAMS", "g": "GRAMS", "lb": "POUNDS", "oz": "OUNCES"}
STATUSES = {"active": "ACTIVE", "draft": "DRAFT", "archived": "ARCHIVED"}


def _money(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    except InvalidOperation:
        return None


def is_crm_product(product_id: str) -> bool:
    """Made in the CRM app (not a Shopify product's own id)."""
    return product_id.startswith("crm-")


def shopify_id_of(product_id: str, entity: dict[str, Any]) -> str | None:
    """The Shopify product a CRM product is, when the data says it (a Shopify product's own
    id, or the id Shopify's echo joined to a product made here)."""
    legacy = entity.get("shopify_product_id") or (product_id if product_id.isdigit() else None)
    return f"gid://shopify/Product/{legacy}" if legacy else None


def _options(entity: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Option names and each variant's values; one ``Title`` option when they disagree."""
    variants = [v for v in entity.get("variants") or [] if v]
    names = [str(n) for n in entity.get("options") or [] if n]
    values = [[str(x) for x in v.get("options") or []] for v in variants]
    if names and all(len(v) == len(names) for v in values):
        return names, values
    return ["Title"], [[str(v.get("title") or "Default Title")] for v in variants]


def product_set_input(
    entity: dict[str, Any], current: ShopifyProduct | None, *, crm_id: str | None, create: bool
) -> dict[str, Any]:
    """The ``ProductSetInput`` of a CRM product (``current``: Shopify's product, for the
    variant ids; ``crm_id``: tag a product made in the CRM)."""
    names, values = _options(entity)
    variants = [v for v in entity.get("variants") or [] if v]
    by_sku = {v.sku: v.id for v in (current.variants if current else ()) if v.sku}
    known = {v.id for v in (current.variants if current else ())}
    out_variants = []
    for variant, chosen in zip(variants, values, strict=True):
        item: dict[str, Any] = {
            "optionValues": [
                {"optionName": name, "name": value}
                for name, value in zip(names, chosen, strict=True)
            ],
            "price": _money(variant.get("price")) or "0.00",
        }
        gid = by_sku.get(variant.get("sku") or "")
        if gid is None and str(variant.get("variant_id") or "").isdigit():
            candidate = f"gid://shopify/ProductVariant/{variant['variant_id']}"
            gid = candidate if candidate in known else None
        if gid:
            item["id"] = gid
        if variant.get("sku"):
            item["sku"] = str(variant["sku"])
        item["compareAtPrice"] = _money(variant.get("compare_at_price"))
        if variant.get("barcode"):
            item["barcode"] = str(variant["barcode"])
        weight = variant.get("weight")
        if weight not in (None, ""):
            unit = WEIGHT_UNITS.get(str(variant.get("weight_unit") or "kg"), "KILOGRAMS")
            item["inventoryItem"] = {
                "measurement": {"weight": {"value": float(weight), "unit": unit}}
            }
        out_variants.append(item)
    option_values: dict[str, list[str]] = {n: [] for n in names}
    for chosen in values:
        for name, value in zip(names, chosen, strict=True):
            if value not in option_values[name]:
                option_values[name].append(value)
    tags = [str(t) for t in entity.get("tags") or [] if not str(t).startswith(markers.PRODUCT_TAG)]
    if crm_id:
        tags.append(markers.product_tag(crm_id))
    product: dict[str, Any] = {
        "title": str(entity.get("title") or ""),
        "descriptionHtml": entity.get("description") or "",
        "status": STATUSES.get(str(entity.get("status") or "active").lower(), "ACTIVE"),
        "tags": tags,
        "productOptions": [
            {"name": n, "values": [{"name": v} for v in option_values[n]]} for n in names
        ],
        "variants": out_variants,
    }
    for key, field in (("vendor", "vendor"), ("product_type", "productType")):
        if entity.get(key):
            product[field] = str(entity[key])
    if create:
        images = [str(i) for i in entity.get("images") or [] if i]
        if images:
            product["files"] = [{"originalSource": i, "contentType": "IMAGE"} for i in images]
        if entity.get("handle"):
            product["handle"] = str(entity["handle"])
    return product


def holds(current: ShopifyProduct, wanted: dict[str, Any]) -> bool:
    """Shopify's product already has what ``wanted`` sets (title and, by SKU, each
    variant's price, compare-at price and barcode): a retried update need not be sent."""
    if (current.title or "") != wanted.get("title"):
        return False
    have = {v.sku: v for v in current.variants}
    for variant in wanted.get("variants") or []:
        found = have.get(variant.get("sku"))
        if found is None:
            return False
        if _money(found.price) != variant.get("price"):
            return False
        if _money(found.compare_at_price) != variant.get("compareAtPrice"):
            return False
        if (found.barcode or None) != (variant.get("barcode") or None):
            return False
    return len(current.variants) == len(wanted.get("variants") or [])


def changes(current: ShopifyProduct | None, wanted: dict[str, Any]) -> list[str]:
    """What an update changes, in words (prices by SKU), for ``sync_status``."""
    if current is None:
        return []
    found = []
    have = {v.sku: v for v in current.variants}
    for variant in wanted.get("variants") or []:
        old = have.get(variant.get("sku"))
        if old is None:
            found.append(f"new variant {variant.get('sku') or ''}".strip())
        elif _money(old.price) != variant.get("price"):
            found.append(f"price of {variant.get('sku')} {_money(old.price)} → {variant['price']}")
    if (current.title or "") != wanted.get("title"):
        found.append("title")
    return found


def stock_quantities(entity: dict[str, Any], product: ShopifyProduct) -> list[dict[str, Any]]:
    """``inventorySetQuantities`` quantities for the locations the owner changed."""
    items = {v.sku: v.inventory_item_id for v in product.variants if v.sku}
    ordered = [v.inventory_item_id for v in product.variants]
    out = []
    for n, variant in enumerate(v for v in entity.get("variants") or [] if v):
        item = items.get(variant.get("sku") or "") or (ordered[n] if n < len(ordered) else None)
        for level in variant.get("stock_set") or []:
            if item is None:
                continue
            out.append(
                {
                    "inventoryItemId": item,
                    "locationId": str(level["location_id"]),
                    "quantity": int(level["quantity"]),
                    "changeFromQuantity": level.get("was"),
                }
            )
    return out


def sync_product(ctx: Any) -> None:
    """Write one CRM product version (``ctx``: ``sync._Ctx``); outcomes go to ``sync_log``."""
    from orderhub.shopify_sync.sync import Outcome

    event, deps = ctx.event, ctx.deps
    product_id, version = str(event["entity_id"]), int(event["version"])
    entity = dict(event["entity"])
    if not ctx.switches.outbound_products:
        ctx.record(
            Outcome(
                "product",
                product_id,
                "skipped",
                "products are not written to Shopify for this shop (outbound.products is off)",
            )
        )
        return
    key = ctx.link("product", product_id)
    link = deps.links.get(key) or {}
    sent_version = int(link.get("crm_version") or 0)
    if sent_version == version:
        return  # a redelivery of the version Shopify has: nothing to send, nothing to add
    if sent_version > version:
        ctx.record(
            Outcome(
                "product",
                product_id,
                "skipped",
                f"Shopify already has a newer version of it (version {sent_version})",
                link.get("shopify_id"),
            )
        )
        return
    vkey = ctx.link("product_version", f"{product_id}@{event['event_id']}")
    claim = deps.links.begin(vkey, {"shop": ctx.shop}, now=deps.now(), lease=deps.lease)
    if claim.kind == "done":
        return  # a redelivery of a version already written
    if claim.kind == "busy":
        ctx.record(Outcome("product", product_id, "waiting", "another delivery is writing it"))
        raise TransientError(f"product {product_id} is being written by another delivery")
    writer: ShopifyWriter = deps.writer(ctx.shop)
    product: ShopifyProduct | None = None
    said: list[str] = []
    quantities: list[dict[str, Any]] = []
    try:
        known = (link.get("shopify_id") if link.get("state") == "sent" else None) or (
            shopify_id_of(product_id, entity)
        )
        created = False
        if known is None and is_crm_product(product_id):
            known, product = _create(ctx, writer, key, product_id, entity)
            created = product is not None
        if known is None:
            raise Refused("productSet", [UserError("the product is not in Shopify")])
        if not created:
            current = writer.product(known)
            if current is None:
                raise Refused(
                    "productSet",
                    [UserError("the product is no longer in Shopify", "PRODUCT_DOES_NOT_EXIST")],
                )
            wanted = product_set_input(
                entity,
                current,
                crm_id=product_id if is_crm_product(product_id) else None,
                create=False,
            )
            said = changes(current, wanted)
            if claim.kind == "retake" and holds(current, wanted):
                product = current  # an earlier attempt wrote it; its answer was lost
                said = ["Shopify already held it (written by an earlier attempt)"]
            else:
                product = writer.product_set({"id": known}, wanted)
        assert product is not None
        quantities = stock_quantities(entity, product)
        if quantities:
            writer.inventory_set(quantities, key=stable_id("stock", event["event_id"]))
    except Refused as refused:
        deps.links.finish(vkey, "retrying", {"error": str(refused)}, now=deps.now())
        code = sorted(refused.codes)[0] if refused.codes else None
        ctx.fail(
            Outcome(
                "product",
                product_id,
                "failed",
                f"Shopify refused it: {refused}",
                error_code=code,
            )
        )
        return
    except (TransientError, ConfigError) as exc:
        deps.links.finish(vkey, "retrying", {"error": str(exc)}, now=deps.now())
        ctx.record(
            Outcome("product", product_id, "waiting", f"Shopify unreachable, retrying ({exc})")
        )
        raise
    assert product is not None
    deps.links.finish(vkey, "sent", {"shopify_id": product.id}, now=deps.now())
    if not link:  # a Shopify product's first CRM version: its link starts here
        deps.links.begin(
            key, {"shop": ctx.shop, "product_id": product_id}, now=deps.now(), lease=deps.lease
        )
    deps.links.finish(
        key,
        "sent",
        {"shopify_id": product.id, "crm_version": version, "uncertain": False},
        now=deps.now(),
    )
    if created:
        reason = f"created in Shopify with {len(product.variants)} variant(s)"
    else:
        reason = "updated in Shopify" + (f": {'; '.join(said)}" if said else "")
    if quantities:
        reason += f"; stock set at {len(quantities)} location(s)"
    ctx.record(
        Outcome("product", product_id, "synced", reason, product.id),
        claim.attempt,
    )


def _create(
    ctx: Any, writer: ShopifyWriter, key: str, product_id: str, entity: dict[str, Any]
) -> tuple[str | None, ShopifyProduct | None]:
    """A product made in the CRM, created once: (its Shopify id, the created product, or
    None when it existed already and is to be updated)."""
    deps = ctx.deps
    claim = deps.links.begin(
        key, {"shop": ctx.shop, "product_id": product_id}, now=deps.now(), lease=deps.lease
    )
    if claim.kind == "done":
        return claim.record.get("shopify_id"), None
    found = writer.find_product(markers.product_search(product_id))
    if found is not None:
        deps.links.finish(key, "sent", {"shopify_id": found.id, "uncertain": False}, now=deps.now())
        return found.id, None
    if claim.kind == "busy":
        raise TransientError(f"product {product_id} is being created by another delivery")
    wanted = product_set_input(entity, None, crm_id=product_id, create=True)
    try:
        created = writer.product_set(None, wanted)
    except Refused:
        deps.links.finish(key, "retrying", {}, now=deps.now())
        raise
    except TransientError as exc:
        if "throttl" in str(exc).lower():
            deps.links.finish(key, "retrying", {"error": str(exc)}, now=deps.now())
            raise
        # Sent, no answer: it may exist. Stay claimed; the next attempt looks it up first.
        until: datetime = deps.now() + deps.settle
        deps.links.finish(
            key,
            "sending",
            {"error": str(exc), "uncertain": True, "busy_until": until},
            now=deps.now(),
        )
        raise
    deps.links.finish(key, "sent", {"shopify_id": created.id, "uncertain": False}, now=deps.now())
    return created.id, created


def delete_product(ctx: Any) -> None:
    """A product deleted in the CRM: its link is removed (later edits would create it
    anew), and Shopify's product is deleted only when the owner ticked that
    (``delete_in_shopify``) and products are switched on."""
    from orderhub.shopify_sync.sync import Outcome

    event, deps = ctx.event, ctx.deps
    product_id, entity = str(event["entity_id"]), dict(event["entity"])
    key = ctx.link("product", product_id)
    link = deps.links.get(key) or {}
    shopify_id = (link.get("shopify_id") if link.get("state") == "sent" else None) or (
        shopify_id_of(product_id, entity)
    )
    if link:
        deps.links.finish(key, "unlinked", {"shopify_id": None, "was": shopify_id}, now=deps.now())
    if not entity.get("delete_in_shopify"):
        reason = "deleted in the CRM: the link to Shopify is removed; Shopify keeps the product"
        ctx.record(Outcome("product", product_id, "skipped", reason, shopify_id))
        return
    if not ctx.switches.outbound_products or not shopify_id:
        why = "products are switched off" if shopify_id else "the product is not in Shopify"
        ctx.record(Outcome("product", product_id, "skipped", f"not deleted in Shopify: {why}"))
        return
    dkey = ctx.link("product_delete", product_id)
    claim = deps.links.begin(dkey, {"shop": ctx.shop}, now=deps.now(), lease=deps.lease)
    if claim.kind == "done":
        return
    if claim.kind == "busy":
        raise TransientError(f"product {product_id} is being deleted by another delivery")
    try:
        deps.writer(ctx.shop).product_delete(shopify_id)
    except Refused as refused:
        deps.links.finish(dkey, "retrying", {}, now=deps.now())
        ctx.fail(Outcome("product", product_id, "failed", f"Shopify refused it: {refused}"))
        return
    except (TransientError, ConfigError) as exc:
        deps.links.finish(dkey, "retrying", {"error": str(exc)}, now=deps.now())
        ctx.record(
            Outcome("product", product_id, "waiting", f"Shopify unreachable, retrying ({exc})")
        )
        raise
    deps.links.finish(dkey, "sent", {"shopify_id": shopify_id}, now=deps.now())
    reason = "deleted in Shopify, as the owner asked"
    ctx.record(Outcome("product", product_id, "synced", reason, shopify_id), claim.attempt)
