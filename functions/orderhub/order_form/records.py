"""The ``records`` blueprint: a customer's edit page, "Send to Shopify now" for customers
and orders, and deleting a customer (issue 24).

Routing only: the work is ``customer_edits`` (the form and the canonical events) and
``sync_state`` (statuses, an order's newest version). Every POST carries the session's
CSRF token (``login_required``); every change is a canonical event from ``manual`` with
the manager, published to ``order-events``.

GET  /customers/<key>/edit     the edit form
POST /customers/<key>/edit     save: ``customer.upserted``
POST /customers/<key>/send     send the customer as the CRM holds them now
POST /customers/<key>/delete   ``customer.deleted``: the views drop it, the link goes
POST /orders/<order_id>/send   publish the order's newest CRM version again
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, g, request

from orderhub import logs
from orderhub.order_form import customer_edits, queries, sync_state
from orderhub.order_form.auth import login_required
from orderhub.order_form.pages import message, page, redirect
from orderhub.order_form.wiring import now, wiring

bp = Blueprint("records", __name__)

NO_CUSTOMER = ("No such customer", "Nobody with this phone or e-mail in the CRM.", 404)


def _window() -> queries.Window:
    return queries.Window(now=now(), history_days=wiring().settings.history_days)


def _customer(key: str) -> queries.CustomerPage | None:
    return queries.customer_page(wiring().runner, key[:300], _window(), parallel=wiring().parallel)


def _back(found: queries.CustomerPage, done: str) -> Response:
    return redirect(f"/customers/{quote(found.key, safe='')}?done={done}")


def _edit_page(
    found: queries.CustomerPage, fields: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    return page("customer_edit.html", status, c=found, f=fields, errors=errors)


@bp.get("/customers/<key>/edit")
@login_required
def edit(key: str) -> Response:
    found = _customer(key)
    if found is None:
        return message(*NO_CUSTOMER)
    return _edit_page(found, customer_edits.form_of(found), {}, 200)


def _publish_customer(found: queries.CustomerPage, record: dict[str, object], what: str) -> None:
    w = wiring()
    event = customer_edits.upserted(
        record,
        page=found,
        shop=w.settings.shop,
        manager=g.manager.id,
        manager_name=g.manager.name,
        at=now(),
    )
    w.bus.publish(event)
    logs.info(f"customer {what}", manager=g.manager.id, event_id=event["event_id"])


@bp.post("/customers/<key>/edit")
@login_required
def save(key: str) -> Response:
    found = _customer(key)
    if found is None:
        return message(*NO_CUSTOMER)
    edit_ = customer_edits.read(request.form, default_country=wiring().settings.default_country)
    if edit_.errors:
        return _edit_page(found, edit_.fields, edit_.errors, 422)
    _publish_customer(found, edit_.record, "edited")
    key = customer_edits.key_of(edit_.record)
    return redirect(f"/customers/{quote(key, safe='')}?done=saved")


@bp.post("/customers/<key>/send")
@login_required
def send_customer(key: str) -> Response:
    found = _customer(key)
    if found is None:
        return message(*NO_CUSTOMER)
    _publish_customer(found, customer_edits.record_of(found), "sent to Shopify")
    return _back(found, "sent")


@bp.post("/customers/<key>/delete")
@login_required
def delete(key: str) -> Response:
    found = _customer(key)
    if found is None:
        return message(*NO_CUSTOMER)
    w = wiring()
    event = customer_edits.deleted(
        page=found,
        shop=w.settings.shop,
        manager=g.manager.id,
        manager_name=g.manager.name,
        at=now(),
        # Only an owner may delete in Shopify too; a manager's tick is ignored.
        in_shopify=g.manager.is_owner and request.form.get("delete_in_shopify") == "on",
    )
    w.bus.publish(event)
    logs.info("customer deleted", manager=g.manager.id, event_id=event["event_id"])
    return redirect("/customers?done=deleted")


@bp.post("/orders/<order_id>/send")
@login_required
def send_order(order_id: str) -> Response:
    event = sync_state.newest_order_event(wiring().runner, order_id[:128], since=_window().since)
    if event is None:
        return message(
            "Not sent",
            "Only orders the CRM took from other sources go to Shopify; Shopify's own"
            " orders are already there.",
            404,
        )
    wiring().bus.publish(event)
    logs.info("order sent to Shopify", manager=g.manager.id, event_id=event["event_id"])
    back = request.form.get("back") or ""
    if back == "list":
        return redirect("/orders?done=sent")
    return redirect(f"/orders/{quote(order_id, safe='')}?done=sent")
