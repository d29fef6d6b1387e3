"""The CRM's pages, one blueprint each: ``orders``, ``customers``, ``attention`` and
``settings`` (owners only).

The views hold routing and templates; the reads and writes are the plain functions of
``queries`` (bounded BigQuery reads), ``attention`` (marks, "read again") and ``admin``
(the owner's settings, audited).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, g, jsonify, request

from orderhub import logs
from orderhub.order_form import actions as acts
from orderhub.order_form import (
    admin,
    contact,
    customer_notes,
    from_mail,
    identity,
    quarantine,
    queries,
    sync_state,
    worklist,
)
from orderhub.order_form import attention as attn
from orderhub.order_form.auth import login_required
from orderhub.order_form.pages import message, money, page, redirect, when
from orderhub.order_form.wiring import now, wiring
from orderhub.sources import manual


def _window() -> queries.Window:
    return queries.Window(now=now(), history_days=wiring().settings.history_days)


def _country() -> str:
    return wiring().settings.default_country


def _parallel(*jobs: tuple[str, list[queries.Param]]) -> list[queries.Rows]:
    return wiring().parallel(*jobs)


# ------------------------------------------------------------------- orders
orders_bp = Blueprint("orders", __name__)


@orders_bp.get("/orders")
@login_required
def orders() -> Response:
    flt = queries.OrderFilter.from_args(request.args)
    marker = wiring().changes.marker() if flt.page == 1 else ""  # read before the rows
    rows, more = _list(flt)
    return page(
        "orders.html",
        sync=_order_sync(rows),
        none_state=sync_state.NONE,
        marker=marker,
        flt=flt,
        rows=rows,
        days=worklist.days(rows),
        views=queries.VIEWS,
        more=more,
        sources=queries.SOURCES,
        statuses=queries.STATUSES,
        pipelines=acts.STATUSES,
        pipeline_labels=acts.LABELS,
    )


@orders_bp.get("/orders.json")
@login_required(json=True)
def orders_json() -> Response:
    """The list's first page as JSON: the page polls it, so new orders appear by themselves.

    ``?marker=`` the change marker the page holds: while the CRM's marker has not moved
    (``orderhub.changes``), the answer is ``{"unchanged": true}`` and no BigQuery job runs."""
    flt = queries.OrderFilter.from_args(request.args)
    marker = wiring().changes.marker()  # read before the rows: a change meanwhile shows next
    if marker == request.args.get("marker"):
        return jsonify({"unchanged": True, "marker": marker})
    rows, more = _list(flt)
    sync = _order_sync(rows)
    return jsonify(
        {
            "marker": marker,
            "orders": [
                {
                    "order_id": r["order_id"],
                    "name": r["name"] or r["number"] or r["order_id"],
                    "source": r["source"],
                    "source_name": worklist.row_source(r),
                    "status": r["status"],
                    "pipeline": r.get("pipeline") or "new",
                    "customer": r["customer_name"] or "",
                    "phone": r.get("phone") or "",
                    "manager": r.get("manager") or "",
                    "assigned_to": r.get("assigned_to_name") or r.get("assigned_to") or "",
                    "day": worklist.day_heading(r),
                    "total": money(r["total"], r["currency"]),
                    "created_at": when(r["created_at"] or r["updated_at"]),
                    "sync": _sync_json(sync, r),
                }
                for r in rows
            ],
            "more": more,
        }
    )


def _order_sync(rows: queries.Rows) -> dict[str, sync_state.State]:
    """Each CRM order's Shopify sync (Shopify's own orders need none): one query a page."""
    ids = [r["order_id"] for r in rows if r["source"] != "shopify"]
    return sync_state.states(wiring().runner, "order", ids, since=_window().since)


def _sync_json(sync: dict[str, sync_state.State], row: dict[str, Any]) -> dict[str, Any] | None:
    if row["source"] == "shopify":
        return None
    state = sync.get(row["order_id"], sync_state.NONE)
    return {"status": state.status, "label": state.label, "reason": state.reason}


def _list(flt: queries.OrderFilter) -> tuple[queries.Rows, bool]:
    return queries.list_orders(
        wiring().runner,
        flt,
        _window(),
        default_country=_country(),
        me=g.manager.id,
        time_zone=wiring().settings.time_zone,
    )


def _order_page(found: queries.OrderPage, *, error: str = "", status: int = 200) -> Response:
    chat = queries.order_contact(wiring().runner, found.order, _window())
    customer = found.order.get("customer") or {}
    return page(
        "order.html",
        status,
        contact_links=contact.links(customer.get("phone"), chat, default_country=_country()),
        chat_name=contact.contact_name(chat),
        p=found,
        o=found.order,
        admin_url=queries.admin_link(found.order),
        customer_key=queries.customer_key(found.order.get("customer")),
        action_token=manual.new_form_token(now()),
        pipeline=acts.PIPELINE,
        labels_of=acts.LABELS,
        cancel_reasons=acts.CANCEL_REASONS,
        carriers=acts.CARRIERS,
        assignment=acts.assigned(found.actions),
        assignable=worklist.assignable(wiring().managers),
        error=error,
        done=(request.args.get("done") or "")[:40],
    )


@orders_bp.get("/orders/<order_id>")
@login_required
def order(order_id: str) -> Response:
    found = queries.order_page(wiring().runner, order_id[:128], _window(), parallel=_parallel)
    if found is None:
        return message("No such order", "No order with this number in the CRM.", 404)
    return _order_page(found)


def _act(order_id: str, read: Any, *, with_order: bool = False) -> Response:
    """One action on an order: read the form, check it, publish its ``order.action``
    (``with_order``: ``read`` also takes the order as its page shows it)."""
    w = wiring()
    found = queries.order_page(w.runner, order_id[:128], _window(), parallel=_parallel)
    if found is None:
        return message("No such order", "No order with this number in the CRM.", 404)
    token = request.form.get("action_token") or ""
    if not manual.valid_token(token, now(), acts.TOKEN_MAX_AGE):
        return _order_page(found, error="This page is too old: try again.", status=409)
    try:
        action = read(request.form, found.order) if with_order else read(request.form)
        acts.check_allowed(action, pipeline=found.pipeline)
        event = acts.action_event(
            action,
            order=acts.OrderKey(
                found.order["source"], found.order["shop"], found.order["order_id"]
            ),
            manager=g.manager.id,
            manager_name=g.manager.name,
            token=token,
            at=now(),
        )
    except acts.Refused as exc:
        return _order_page(found, error=str(exc), status=422)
    w.bus.publish(event)
    logs.info(
        "order action",
        manager=g.manager.id,
        order_id=found.order["order_id"],
        kind=action.kind,
        status=action.status,
        event_id=event["event_id"],
    )
    said = action.status or ("items" if action.line_items is not None else action.kind)
    return redirect(f"/orders/{quote(found.order['order_id'], safe='')}?done={said}#timeline")


@orders_bp.post("/orders/<order_id>/status")
@login_required
def order_status(order_id: str) -> Response:
    """``status`` (new, confirmed, packed, shipped, delivered, cancelled); for shipped
    ``tracking_number`` and ``tracking_company``; for cancelled ``cancel_reason``."""
    return _act(order_id, acts.read_status)


@orders_bp.post("/orders/<order_id>/paid")
@login_required
def order_paid(order_id: str) -> Response:
    return _act(order_id, lambda _form: acts.Action("paid"))


@orders_bp.post("/orders/<order_id>/comments")
@login_required
def order_comment(order_id: str) -> Response:
    return _act(order_id, acts.read_comment)


@orders_bp.get("/orders/<order_id>/mail")
@login_required
def order_mail(order_id: str) -> Response:
    found = queries.order_page(wiring().runner, order_id[:128], _window(), parallel=_parallel)
    raw_id = found.order.get("raw_id") if found else None
    raw = queries.raw_event(wiring().runner, raw_id, _window()) if raw_id else None
    if found is None or raw is None or raw.get("kind") != attn.RAW_EMAIL_KIND:
        return message("No mail", "This order did not come from an e-mail we kept.", 404)
    return page("mail.html", mail=queries.mail_text(raw), back=f"/orders/{order_id}")


# ------------------------------------------------------------------- customers
customers_bp = Blueprint("customers", __name__)


@customers_bp.get("/customers")
@login_required
def customers() -> Response:
    q = (request.args.get("q") or "").strip()[:100]
    hits = (
        queries.search_customers(
            wiring().runner, q, _window(), default_country=_country(), parallel=_parallel
        )
        if q
        else []
    )
    ids = {h.key: sync_state.customer_record_id(h.email, h.phone) for h in hits}
    found = sync_state.states(wiring().runner, "customer", ids.values(), since=_window().since)
    sync = {key: found.get(record, sync_state.NONE) for key, record in ids.items()}
    done = (request.args.get("done") or "")[:40]
    return page("customers.html", q=q, hits=hits, sync=sync, done=done)


@customers_bp.get("/customers/lookup.json")
@login_required(json=True)
def customer_lookup() -> Response:
    """The form asks while a phone is typed: the customer it belongs to, if any."""
    found = queries.lookup_phone(
        wiring().runner,
        (request.args.get("phone") or "")[:40],
        _window(),
        default_country=_country(),
    )
    return jsonify({"customer": found})


def _chat_contacts(found: queries.CustomerPage) -> list[dict[str, Any]]:
    """Each chat contact of the customer page once: its newest touch."""
    newest: dict[str, dict[str, Any]] = {}
    for row in found.contacts:  # oldest touch first
        newest.pop(str(row["contact_id"]), None)
        newest[str(row["contact_id"])] = row
    return list(newest.values())


def _customer_page(
    found: queries.CustomerPage, *, error: str | None = None, status: int = 200
) -> Response:
    address = found.address or {}
    prefill = {
        "customer_name": found.name,
        "phone": found.phone,
        "email": found.email,
        "address": ", ".join(
            str(address[k]) for k in ("address1", "address2", "city", "zip") if address.get(k)
        ),
    }
    chat = found.contacts[-1] if found.contacts else None  # the newest touch
    return page(
        "customer.html",
        status,
        c=found,
        chats=_chat_contacts(found),
        prefill={k: v for k, v in prefill.items() if v},
        contact_links=contact.links(found.phone, chat, default_country=_country()),
        chat_name=contact.contact_name(chat),
        action_token=manual.new_form_token(now()),
        comments=customer_notes.comments(wiring().runner, found.key, _window()),
        error=error,
        done=(request.args.get("done") or "")[:40],
        sync=_customer_sync(found),
    )


def _customer_sync(found: queries.CustomerPage) -> sync_state.State:
    record = sync_state.customer_record_id(found.email, found.phone)
    states = sync_state.states(wiring().runner, "customer", [record], since=_window().since)
    return states.get(record, sync_state.NONE)


@customers_bp.get("/customers/<key>")
@login_required
def customer(key: str) -> Response:
    found = queries.customer_page(wiring().runner, key[:300], _window(), parallel=_parallel)
    if found is None:
        return message("No such customer", "Nobody with this phone or e-mail in the CRM.", 404)
    return _customer_page(found)


@customers_bp.post("/customers/<key>/contacts/<contact_id>")
@login_required
def customer_contact(key: str, contact_id: str) -> Response:
    """A manager says whether a chat contact that typed this customer's phone or e-mail is
    her (``decision``: confirmed | rejected): one ``contact.identity`` event."""
    w = wiring()
    found = queries.customer_page(w.runner, key[:300], _window(), parallel=_parallel)
    if found is None:
        return message("No such customer", "Nobody with this phone or e-mail in the CRM.", 404)
    chat = next((r for r in _chat_contacts(found) if r["contact_id"] == contact_id), None)
    if chat is None:
        return message("No such contact", "No chat contact with this customer's phone.", 404)
    token = request.form.get("action_token") or ""
    if not manual.valid_token(token, now(), acts.TOKEN_MAX_AGE):
        return _customer_page(found, error="This page is too old: try again.", status=409)
    try:
        event = identity.decision_event(
            identity.read_decision(request.form),
            shop=str(chat["shop"]),
            contact=chat,
            manager=g.manager.id,
            manager_name=g.manager.name,
            token=token,
            at=now(),
        )
    except acts.Refused as exc:
        return _customer_page(found, error=str(exc), status=422)
    w.bus.publish(event)
    decision = event["entity"]["decision"]
    logs.info(
        "contact identity",
        manager=g.manager.id,
        contact_id=contact_id,
        decision=decision,
        event_id=event["event_id"],
    )
    return redirect(f"/customers/{quote(found.key, safe='')}?done={decision}#chat")


# ------------------------------------------------------------------- needs attention
attention_bp = Blueprint("attention", __name__)


@attention_bp.get("/attention")
@login_required
def attention() -> Response:
    w = wiring()
    lists = queries.attention(w.runner, _window(), parallel=_parallel)
    marks = w.marks.get_many([row["event_id"] for row in lists["quarantine"]])
    show = request.args.get("show") == "all"
    open_items = [r for r in lists["quarantine"] if not marks.get(r["event_id"], {}).get("handled")]
    try:
        told = [(m.subscriber_id, m.name) for m in (w.notify_list.load() or ())]
    except Exception as exc:  # noqa: BLE001 - the page still shows what needs attention
        logs.warning("managers list unreadable", error=str(exc))
        told = []
    windows = queries.messenger_windows(w.runner, told, now=now())
    listed = lists["quarantine"] if show else open_items
    return page(
        "attention.html",
        windows=windows,
        quarantine=listed,
        shown=from_mail.readouts(listed),
        handled_count=len(lists["quarantine"]) - len(open_items),
        show_all=show,
        marks=marks,
        sync=lists["sync"],
        notifications=lists["notifications"],
    )


def _item(event_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    w = wiring()
    item = queries.quarantined(w.runner, event_id[:128], _window())
    raw = None
    if item and item["raw_id"]:
        raw = queries.raw_event(w.runner, item["raw_id"], _window())
    return item, raw


@attention_bp.get("/attention/<event_id>")
@login_required
def attention_item(event_id: str) -> Response:
    item, raw = _item(event_id)
    if item is None:
        return message("Not found", "Nothing with this id is in the quarantine.", 404)
    mail = queries.mail_text(raw) if raw and raw.get("kind") == attn.RAW_EMAIL_KIND else None
    payload = None if mail or raw is None else str(raw.get("body") or "")[:20000]
    mark = wiring().marks.get_many([item["event_id"]]).get(item["event_id"], {})
    return page(
        "attention_item.html",
        item=item,
        mail=mail,
        payload=payload,
        mark=mark,
        reasons=quarantine.plain_reasons(item.get("reason")),
        read=quarantine.readout(raw, wiring().rules) if mail else None,
    )


@attention_bp.post("/attention/<event_id>/handled")
@login_required
def attention_handled(event_id: str) -> Response:
    item, _raw = _item(event_id)
    if item is None:
        return message("Not found", "Nothing with this id is in the quarantine.", 404)
    attn.mark_handled(
        wiring().marks,
        item["event_id"],
        by=g.manager.id,
        now=now(),
        note=(request.form.get("note") or "").strip(),
    )
    logs.info("quarantine item handled", manager=g.manager.id, event_id=item["event_id"])
    return redirect("/attention")


@attention_bp.post("/attention/<event_id>/replay")
@login_required
def attention_replay(event_id: str) -> Response:
    w = wiring()
    item, raw = _item(event_id)
    if item is None or raw is None:
        return message("Not found", "The mail is not in the CRM's raw store.", 404)
    try:
        replay = attn.replay_mail(raw, rules=w.rules, bus=w.bus, now=now())
    except attn.NotReplayable as exc:
        return message("Cannot read again", str(exc).capitalize() + ".", 400)
    attn.record_replay(w.marks, item["event_id"], replay, by=g.manager.id, now=now())
    logs.info(
        "quarantined mail read again",
        manager=g.manager.id,
        event_id=item["event_id"],
        orders=list(replay.published),
    )
    return page("replayed.html", replay=replay, item=item)


# ------------------------------------------------------------------- settings (owner)
settings_bp = Blueprint("settings", __name__)


def _saved(changes: list[admin.Change]) -> str:
    return f"Saved: {len(changes)} change(s)." if changes else "Nothing changed."


def _settings_page(
    errors: dict[str, str] | None = None,
    saved: str = "",
    status: int = 200,
    first_sync: list[str] | None = None,
) -> Response:
    w = wiring()
    switches = w.switches.get(w.settings.shop)
    try:
        told = w.notify_list.load() or ()
    except Exception as exc:  # noqa: BLE001 - the page still shows the sync settings
        logs.warning("managers list unreadable", error=str(exc))
        told = ()
    prefs = w.preferences.load()
    return page(
        "settings.html",
        status,
        switches=switches,
        switch_fields=admin.SWITCH_FIELDS,
        told=told,
        prefs=prefs,
        kinds=admin.NOTIFY_KINDS,
        audit=w.audit.recent(30),
        errors=errors or {},
        saved=saved,
        first_sync=first_sync or [],
    )


@settings_bp.get("/settings")
@login_required(owner=True)
def settings() -> Response:
    return _settings_page()


@settings_bp.post("/settings/sync")
@login_required(owner=True)
def settings_sync() -> Response:
    w = wiring()
    current = w.switches.get(w.settings.shop)
    try:
        changes = admin.change_switches(
            w.switches,
            w.audit,
            shop=w.settings.shop,
            assignments=admin.form_assignments(request.form, current),
            by=g.manager.id,
            now=now(),
        )
    except ValueError as exc:
        return _settings_page({"sync": str(exc)}, status=422)
    logs.info("sync settings changed", manager=g.manager.id, changed=[c.setting for c in changes])
    return _settings_page(
        saved=_saved(changes), first_sync=admin.first_sync_commands(changes, w.settings.shop)
    )


@settings_bp.post("/settings/notify")
@login_required(owner=True)
def settings_notify() -> Response:
    w = wiring()
    subscriber = (request.form.get("subscriber_id") or "").strip()
    listed = {m.subscriber_id for m in (w.notify_list.load() or ())}
    if subscriber not in listed:
        return _settings_page({"notify": "Choose a manager from the list."}, status=422)
    changes = admin.change_preferences(
        w.preferences,
        w.audit,
        subscriber_id=subscriber,
        wanted={k: request.form.get(k) == "on" for k in admin.NOTIFY_KINDS},
        by=g.manager.id,
        now=now(),
    )
    return _settings_page(saved=_saved(changes))
