"""The ``order_edits`` blueprint: duplicate an order, edit its address and note (issue 22
item 1).

``GET /orders/<id>/duplicate``: the order form, prefilled with the order's customer, phone,
e-mail, address, delivery method, where the customer came from and items; it posts to the
ordinary form (``POST /``), so Save makes a new order with a new id and nothing is published
before it.

``POST /orders/<id>/edit`` (CSRF + ``action_token``, like the other actions): the shipping
address and the note, one ``order.action`` of kind ``edit`` (``actions.read_edit``). The
newest edit wins over the order's own versions on the order's page and in the ``orders``
view; ``shopify_sync`` carries it to an order that is in Shopify (``orderUpdate``).

``POST /orders/<id>/items`` (CSRF + ``action_token``): an edit of the items, one
``order.action`` of kind ``edit`` with every line (``qty-<n>``: the new quantity of the
page's line ``n``, 0 removes it; ``add-<n>-variant_id`` / ``add-<n>-quantity``: an item from
the catalogue, priced from the catalogue) and the recomputed subtotal and total
(``actions.read_items``). The newest edit of items wins on the order's page and in the
``orders`` view; ``shopify_sync`` carries it with Shopify's order editing.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response

from orderhub.order_form import actions as acts
from orderhub.order_form import catalogue, form, pages, queries, views
from orderhub.order_form.auth import login_required
from orderhub.order_form.wiring import now, wiring
from orderhub.sources import manual

bp = Blueprint("order_edits", __name__)

#: The parts of a shipping address joined into the form's one address field.
ADDRESS_PARTS = ("address1", "address2", "city", "province", "zip", "country")


def _window() -> queries.Window:
    return queries.Window(now=now(), history_days=wiring().settings.history_days)


def _parallel(*jobs: tuple[str, list[queries.Param]]) -> list[queries.Rows]:
    return wiring().parallel(*jobs)


def _tagged(order: dict[str, Any], prefix: str) -> str:
    for tag in order.get("tags") or []:
        if str(tag).startswith(prefix):
            return str(tag)[len(prefix) :]
    return ""


def _price(value: Any) -> str:
    if value is None or value == "":
        return ""
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except InvalidOperation:
        return ""


def address_text(address: dict[str, Any] | None) -> str:
    """A shipping address in one line, as the form's address field takes it."""
    if not address:
        return ""
    return ", ".join(str(address[k]) for k in ADDRESS_PARTS if address.get(k))


def prefill(
    order: dict[str, Any], *, delivery_methods: tuple[str, ...] | list[str]
) -> manual.FormInput:
    """The order form's fields and item rows for a copy of ``order``."""
    customer = order.get("customer") or {}
    shipping = order.get("shipping_address") or {}
    attribution = order.get("attribution") or {}
    method = _tagged(order, "delivery:")
    channel = str(attribution.get("channel") or _tagged(order, "channel:"))
    fields = {
        "customer_name": str(customer.get("name") or ""),
        "phone": str(customer.get("phone") or shipping.get("phone") or ""),
        "email": str(customer.get("email") or ""),
        "address": address_text(shipping),
        "delivery_method": method if method in delivery_methods else "",
        "channel": channel if channel in manual.CHANNELS else "other",
        "note": "",
    }
    lines = [
        {
            "title": str(li.get("title") or ""),
            "sku": str(li.get("sku") or ""),
            "variant_id": str(li.get("variant_id") or ""),
            "product_id": str(li.get("product_id") or ""),
            "variant_title": str(li.get("variant_title") or ""),
            "quantity": str(li.get("quantity") or 1),
            "price": _price(li.get("unit_price")),
        }
        for li in order.get("line_items") or []
        if li.get("title")
    ][: manual.MAX_LINES]
    return manual.FormInput(fields={k: v[:500] for k, v in fields.items()}, lines=lines)


@bp.get("/orders/<order_id>/duplicate")
@login_required
def duplicate(order_id: str) -> Response:
    found = queries.order_page(wiring().runner, order_id[:128], _window(), parallel=_parallel)
    if found is None:
        return pages.message("No such order", "No order with this number in the CRM.", 404)
    order = found.order
    name = order.get("name") or order.get("number") or order["order_id"]
    return form._form_page(
        prefill(order, delivery_methods=wiring().settings.delivery_methods),
        manual.new_form_token(now()),
        heading=f"Copy of order {name}",
        copy_of=f"/orders/{quote(str(order['order_id']), safe='')}",
    )


@bp.post("/orders/<order_id>/edit")
@login_required
def edit(order_id: str) -> Response:
    """``ship_name``, ``ship_address1``, ``ship_address2``, ``ship_city``, ``ship_zip``,
    ``ship_country_code``, ``ship_phone`` (all empty: the address is unchanged) and
    ``note``: one ``order.action`` of kind ``edit``."""
    return views._act(order_id, acts.read_edit)


@bp.post("/orders/<order_id>/items")
@login_required
def edit_items(order_id: str) -> Response:
    """``qty-<n>`` for the order's lines, ``add-<n>-variant_id`` and ``add-<n>-quantity``
    for items added from the catalogue: one ``order.action`` of kind ``edit``."""
    w = wiring()

    def find(variant_id: str) -> catalogue.Product | None:
        return w.catalogue.variant(variant_id, shop=w.settings.shop)

    return views._act(
        order_id, lambda values, order: acts.read_items(values, order, find), with_order=True
    )
