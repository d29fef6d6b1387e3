"""The ``products`` blueprint (issue 24): ``/catalogue`` (the list), a product's page, a new
product (``/products`` is the order form's picker search).

Everyone signed in reads; only owners change (a manager's POST answers 403). Routing and
templates only: the reads, the form and the event are ``product_edit``'s plain functions.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, g, request

from orderhub import logs
from orderhub.errors import OrderHubError, TransientError
from orderhub.order_form import product_edit as edit
from orderhub.order_form.auth import login_required
from orderhub.order_form.pages import message, page, redirect
from orderhub.order_form.wiring import now, wiring
from orderhub.sources import manual

bp = Blueprint("products", __name__)

LOCATIONS = "query orderhubAppLocations { locations(first: 20) { nodes { id name isActive } } }"


def _locations() -> list[dict[str, Any]]:
    """The shop's active locations (stock can be set there); none when Shopify is away."""
    w = wiring()
    if not w.settings.shopify_link_enabled:
        return []
    try:
        data = w.shopify.graphql(LOCATIONS)
    except (OrderHubError, TransientError) as exc:
        logs.warning("products: locations unreadable", error=str(exc))
        return []
    nodes = (data.get("locations") or {}).get("nodes") or []
    return [n for n in nodes if n.get("isActive")]


@bp.get("/catalogue")
@login_required
def products() -> Response:
    q = request.args.get("q", "")[:100]
    rows = edit.list_products(wiring().runner, shop=wiring().settings.shop, needle=q)
    return page("products.html", q=q, rows=rows)


def _form(
    product_id: str | None,
    found: dict[str, Any] | None,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    entity = values if values is not None else (found or {}).get("entity") or {}
    variants = list(entity.get("variants") or [])
    if g.manager.is_owner:
        variants.append({})  # a blank row: a new variant
    return page(
        "product.html",
        status,
        product_id=product_id,
        product=entity,
        variants=variants,
        found=found,
        sync=(found or {}).get("sync"),
        source=(found or {}).get("source"),
        errors=errors or {},
        token=manual.new_form_token(now()),
        locations=_locations() if g.manager.is_owner else [],
        done=request.args.get("done", ""),
        editable=g.manager.is_owner,
    )


@bp.get("/catalogue/new")
@login_required
def new_product() -> Response:
    return _form(None, None)


@bp.get("/catalogue/<product_id>")
@login_required
def product(product_id: str) -> Response:
    found = edit.product_page(
        wiring().runner, shop=wiring().settings.shop, product_id=product_id[:128]
    )
    if found is None:
        return message("No such product", "No product with this id in the CRM.", 404)
    return _form(product_id, found)


def _save(product_id: str | None) -> Response:
    w = wiring()
    found = None
    if product_id is not None:
        found = edit.product_page(w.runner, shop=w.settings.shop, product_id=product_id[:128])
        if found is None:
            return message("No such product", "No product with this id in the CRM.", 404)
    token = request.form.get("form_token") or ""
    if not manual.valid_token(token, now(), edit.TOKEN_MAX_AGE):
        return _form(
            product_id, found, errors={"form": "This page is too old: try again."}, status=409
        )
    try:
        entity = edit.parse_form(request.form, (found or {}).get("entity"))
    except edit.Invalid as invalid:
        # The form again, as typed, with the errors beside the fields: nothing is lost.
        typed = {k: v for k, v in request.form.items()}
        values = {**((found or {}).get("entity") or {}), **typed}
        values["tags"] = [t.strip() for t in typed.get("tags", "").split(",") if t.strip()]
        values["images"] = [i.strip() for i in typed.get("images", "").splitlines() if i.strip()]
        values["variants"] = [
            {f: request.form.get(f"variants-{n}-{f}", "") for f in edit.VARIANT_FIELDS}
            for n in range(edit.MAX_VARIANTS)
            if any(
                request.form.get(f"variants-{n}-{f}")
                for f in ("variant_id", "sku", "title", "price")
            )
        ]
        return _form(product_id, found, values=values, errors=invalid.errors, status=422)
    pid = product_id or edit.new_product_id(token)
    event = edit.product_event(
        entity,
        product_id=pid,
        shop=w.settings.shop,
        owner=edit.Owner(g.manager.id, g.manager.name),
        token=token,
        at=now(),
    )
    w.bus.publish(event)
    logs.info("product saved", manager=g.manager.id, product_id=pid, event_id=event["event_id"])
    return redirect(f"/catalogue/{quote(pid, safe='')}?done=saved")


@bp.post("/catalogue/new")
@login_required(owner=True)
def create_product() -> Response:
    return _save(None)


@bp.post("/catalogue/<product_id>")
@login_required(owner=True)
def save_product(product_id: str) -> Response:
    return _save(product_id)


@bp.post("/catalogue/<product_id>/send")
@login_required(owner=True)
def send_product(product_id: str) -> Response:
    """ "Send to Shopify now": the newest CRM version published again for shopify_sync
    (a version Shopify already holds is not written twice; a failed one is retried)."""
    w = wiring()
    found = edit.product_page(w.runner, shop=w.settings.shop, product_id=product_id[:128])
    if found is None:
        return message("No such product", "No product with this id in the CRM.", 404)
    back = f"/catalogue/{quote(product_id, safe='')}"
    if found["source"] != edit.SOURCE:
        return redirect(back + "?done=shopify")
    w.bus.publish(found["event"])
    logs.info("product sent again", manager=g.manager.id, product_id=product_id)
    return redirect(back + "?done=sent")


@bp.post("/catalogue/<product_id>/delete")
@login_required(owner=True)
def delete_product(product_id: str) -> Response:
    """Delete in the CRM: the views drop it and its link to Shopify goes; Shopify keeps the
    product unless the owner ticked ``delete_in_shopify``."""
    w = wiring()
    found = edit.product_page(w.runner, shop=w.settings.shop, product_id=product_id[:128])
    if found is None:
        return message("No such product", "No product with this id in the CRM.", 404)
    token = request.form.get("form_token") or ""
    if not manual.valid_token(token, now(), edit.TOKEN_MAX_AGE):
        return _form(
            product_id, found, errors={"form": "This page is too old: try again."}, status=409
        )
    event = edit.delete_event(
        found["entity"],
        product_id=product_id,
        shop=w.settings.shop,
        owner=edit.Owner(g.manager.id, g.manager.name),
        token=token,
        at=now(),
        in_shopify=request.form.get("delete_in_shopify") == "on",
    )
    w.bus.publish(event)
    logs.info("product deleted", manager=g.manager.id, product_id=product_id)
    return redirect("/catalogue?done=deleted")
