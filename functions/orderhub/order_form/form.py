"""The ``form`` blueprint: the order form (``/``, ``/new``), its product search and payment
links.

Each rendering of the form carries a form token: the order it sends is recorded once,
however often it is sent (``service.record_order``), and a payment link is made once
(``service.create_link``); a page older than ``FORM_MAX_AGE`` is refused, so every token
accepted is still claimed. What the manager typed is validated by ``sources.manual``, and
a form with mistakes comes back with everything typed and each error under its field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from orderhub import logs
from orderhub.errors import ConfigError, TransientError
from orderhub.order_form import auth, pages, payment_links, service
from orderhub.order_form.wiring import now, wiring
from orderhub.shopify.admin import ShopifyRejected
from orderhub.sources import manual

bp = Blueprint("form", __name__)

#: A page older than this is refused (its token's claim lives ``wiring.CLAIM_TTL``).
FORM_MAX_AGE = timedelta(days=2)
#: What a link may fill in on a new form (the customer's page's "New order").
PREFILL_FIELDS = ("customer_name", "phone", "email", "address")
#: How the error summary names a field (line fields by their last part).
FIELD_LABELS = {
    "customer_name": "name",
    "phone": "phone",
    "email": "e-mail",
    "address": "address",
    "delivery_method": "delivery method",
    "note": "note",
    "channel": "where the customer came from",
    "lines": "items",
    "title": "item",
    "quantity": "quantity",
    "price": "price",
}
DELIVERY_LABELS = {"courier": "Courier", "post": "Post", "pickup": "Pickup", "taxi": "Taxi"}


def delivery_label(method: str) -> str:
    return DELIVERY_LABELS.get(method, method.replace("-", " ").replace("_", " ").capitalize())


def _form_page(
    form: manual.FormInput,
    form_token: str,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
    **extra: Any,
) -> Response:
    settings = wiring().settings
    empty = dict.fromkeys(manual.LINE_FIELDS, "")
    return pages.page(
        "form.html",
        status,
        form_token=form_token,
        form=form,
        lines=[*form.lines, empty],
        empty_row=empty,
        errors=errors or {},
        notice=notice,
        currency=settings.currency,
        total=str(manual.typed_total(form.lines)),
        delivery_methods=[(m, delivery_label(m)) for m in settings.delivery_methods],
        link_enabled=settings.shopify_link_enabled and not extra.get("form_action"),
        phone_example=manual.example_phone(settings.default_country),
        **extra,
    )


@bp.get("/")
@auth.login_required
def new_form() -> Response:
    # "New order for this customer": the customer's page links here with their details.
    prefill = {
        key: str(request.args.get(key) or "")[:200]
        for key in PREFILL_FIELDS
        if request.args.get(key)
    }
    return _form_page(
        manual.FormInput(fields={"channel": "phone", "delivery_method": "", **prefill}),
        manual.new_form_token(now()),
    )


@bp.get("/new")
def new_order() -> Response:
    """The form, for an old link or a bookmark: ``/new`` → ``/`` (query kept)."""
    query = request.query_string.decode("ascii", "replace")
    return pages.redirect("/" + (f"?{query}" if query else ""))


@bp.post("/")
def send_form() -> Response:
    """Save the order, or make a payment link (``action=link``)."""
    # Not login_required: a form sent after its session ended gets the sign-in page, and
    # a refused token says that what was typed must be entered again.
    if g.manager is None:
        return auth.signin_page(error="Please sign in first.", status=401)
    manager = g.manager
    if not auth.csrf_ok():
        logs.warning("order form refused: bad CSRF token", manager=manager.id)
        return pages.message(
            "Form expired",
            "This form was not accepted. Reload the page and enter it again.",
            403,
            back="/",
        )
    token = request.form.get("form_token") or ""
    if not manual.valid_token(token, now(), FORM_MAX_AGE):
        return pages.message(
            "Form too old",
            "This page is too old to send. Open a new form and enter it again.",
            400,
            back="/",
        )
    w = wiring()
    settings = w.settings
    form = manual.read_form({key: request.form.get(key) or "" for key in request.form})
    link_mode = request.form.get("action") == "link" and settings.shopify_link_enabled
    order, errors = manual.validate(
        form,
        link_mode=link_mode,
        default_country=settings.default_country,
        currency=settings.currency,
        delivery_methods=(*settings.delivery_methods, "")
        if link_mode
        else settings.delivery_methods,
    )
    if order is None:
        logs.info("order form returned with errors", manager=manager.id, fields=sorted(errors))
        return _form_page(form, token, errors=errors, status=422)

    def again(notice: str, status: int) -> Response:
        return _form_page(form, token, notice=notice, status=status)

    if link_mode:
        try:
            link = service.create_link(
                order=order,
                manager=manager.id,
                form_token=token,
                links=w.links,
                shopify=w.shopify,
                now=now,
            )
        except ShopifyRejected as exc:
            logs.warning("Shopify refused the draft order", manager=manager.id)
            return again("Shopify refused the draft order: " + "; ".join(exc.messages), 422)
        except ConfigError as exc:
            logs.error("draft order failed: configuration", error=str(exc))
            return again("Payment links are not set up correctly; tell the admin.", 500)
        except TransientError as exc:
            logs.error("draft order failed", error=str(exc))
            return again("Shopify did not answer. Nothing was made; tap the button again.", 503)
        return pages.page(
            "link.html",
            invoice_url=link.invoice_url,
            name=link.name,
            duplicate=link.duplicate,
            pending=link.pending,
            phone=order.phone,
            share=None
            if link.pending
            else payment_links.share(link.name, link.invoice_url, order.phone),
        )

    try:
        recorded = service.record_order(
            order=order,
            manager=manager.id,
            form_token=token,
            shop=settings.shop,
            claims=w.claims,
            bus=w.bus,
            now=now,
        )
    except service.InProgress:
        return again("This order is being saved right now. Tap Save again in a moment.", 409)
    except TransientError as exc:
        logs.error("order not saved", manager=manager.id, error=str(exc))
        return again(
            "The order could not be saved just now. Nothing was recorded; tap Save again.", 503
        )
    return pages.page(
        "done.html",
        200 if recorded.duplicate else 201,
        order_id=recorded.order_id,
        duplicate=recorded.duplicate,
        order=None if recorded.duplicate else order,
    )


@bp.get("/products")
@auth.login_required(json=True)
def products() -> Response:
    """The picker's search: ``?q=`` a name or a SKU."""
    w = wiring()
    try:
        found = w.catalogue.search(request.args.get("q", ""), shop=w.settings.shop)
    except TransientError as exc:
        logs.error("product search failed", error=str(exc))
        return Response('{"error": "search unavailable"}', status=503, mimetype="application/json")
    return jsonify({"products": [p.as_json() for p in found]})
