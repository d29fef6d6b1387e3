"""The CRM app as a Flask application: ``create_app`` and one blueprint per area.

The blueprints hold routing and templates only. Sign-in, sessions, CSRF and the order
form are the hardened code of ``entrypoints/order_form.py`` (passed in as ``Hooks``); the
reads and writes are the plain functions of ``queries``, ``attention`` and ``admin``.

Access: without a session, pages (GET) redirect to ``/signin`` and everything else answers
401; every POST needs the session's CSRF token (403); ``/settings`` is for owners only
(403 for a manager).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request

from orderhub import logs
from orderhub.crmapp import admin, queries
from orderhub.crmapp import attention as attn
from orderhub.errors import TransientError
from orderhub.money import amount, format_money

HERE = Path(__file__).resolve().parent
ASSETS = {"crm.css": "text/css", "crm.js": "text/javascript"}

View = Callable[..., Any]


@dataclass(frozen=True)
class Hooks:
    """What the app takes from the function's adapter: its wiring and its hardened views."""

    wiring: Any
    current: Callable[[Any], Any]  # request → (session, manager) or None
    signin: Callable[[Any], Response]
    signout: Callable[[Any], Response]
    form: Callable[[Any], Response]
    products: Callable[[Any], Response]
    static: Callable[[str], Response]
    now: Callable[[], datetime]


def hooks() -> Hooks:
    found: Hooks = current_app.extensions["orderhub"]
    return found


def _base() -> str:
    return str(hooks().wiring.settings.base_path)


def _redirect(path: str) -> Response:
    response = Response("", status=303)
    response.headers["Location"] = _base() + path
    return response


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    return response


def _message(heading: str, text: str, status: int) -> Response:
    return _page("message.html", status, heading=heading, text=text)


def signed_in(*, owner: bool = False, json: bool = False) -> Callable[[View], View]:
    """A view for signed-in managers (``owner``: owners only); POSTs need the CSRF token."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            h = hooks()
            current = h.current(request)
            if current is None:
                if json:
                    return Response('{"error": "sign in first"}', 401, mimetype="application/json")
                if request.method == "GET":
                    return _redirect("/signin")
                return Response("sign in first\n", status=401, mimetype="text/plain")
            g.session, g.manager = current
            if owner and not g.manager.is_owner:
                logs.warning("owner page refused", manager=g.manager.id, path=request.path)
                return _message("Owners only", "Only the shop's owner can change settings.", 403)
            if request.method == "POST" and not h.wiring.signer.check_csrf(
                "form", g.session.sid, request.form.get("csrf_token")
            ):
                return _message("Form expired", "Reload the page and try again.", 403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _window() -> queries.Window:
    h = hooks()
    return queries.Window(now=h.now(), history_days=h.wiring.settings.history_days)


def _country() -> str:
    return str(hooks().wiring.settings.default_country)


def _parallel(*jobs: tuple[str, list[queries.Param]]) -> list[queries.Rows]:
    found: list[queries.Rows] = hooks().wiring.parallel(*jobs)
    return found


# ------------------------------------------------------------------- auth and the form
auth_bp = Blueprint("auth", __name__)
form_bp = Blueprint("form", __name__)


@auth_bp.route("/signin", methods=["GET", "POST"])
def signin() -> Response:
    return hooks().signin(request)


@auth_bp.post("/signout")
def signout() -> Response:
    return hooks().signout(request)


@form_bp.route("/", methods=["GET", "POST"])
def order_form() -> Response:
    return hooks().form(request)


@form_bp.get("/new")
def new_order() -> Response:
    """The form, for an old link or a bookmark: ``/new`` → ``/`` (query kept)."""
    query = request.query_string.decode("ascii", "replace")
    return _redirect("/" + (f"?{query}" if query else ""))


@form_bp.get("/products")
def products() -> Response:
    return hooks().products(request)


@form_bp.get("/assets/<name>")
def assets(name: str) -> Response:
    # Not /static/: functions-framework's Flask app keeps that path for itself.
    if name in ASSETS:
        response = Response((HERE / "static" / name).read_bytes(), mimetype=ASSETS[name])
        response.headers["Cache-Control"] = "public, max-age=300"
        return response
    return hooks().static(name)


# ------------------------------------------------------------------- orders
orders_bp = Blueprint("orders", __name__)


@orders_bp.get("/orders")
@signed_in()
def orders() -> Response:
    flt = queries.OrderFilter.from_args(request.args)
    rows, more = queries.list_orders(
        hooks().wiring.runner, flt, _window(), default_country=_country()
    )
    return _page(
        "orders.html",
        flt=flt,
        rows=rows,
        more=more,
        sources=queries.SOURCES,
        statuses=queries.STATUSES,
    )


@orders_bp.get("/orders.json")
@signed_in(json=True)
def orders_json() -> Response:
    """The list's first page as JSON: the page polls it, so new orders appear by themselves."""
    flt = queries.OrderFilter.from_args(request.args)
    rows, more = queries.list_orders(
        hooks().wiring.runner, flt, _window(), default_country=_country()
    )
    return jsonify(
        {
            "orders": [
                {
                    "order_id": r["order_id"],
                    "name": r["name"] or r["number"] or r["order_id"],
                    "source": r["source"],
                    "status": r["status"],
                    "customer": r["customer_name"] or "",
                    "total": money(r["total"], r["currency"]),
                    "created_at": when(r["created_at"] or r["updated_at"]),
                }
                for r in rows
            ],
            "more": more,
        }
    )


@orders_bp.get("/orders/<order_id>")
@signed_in()
def order(order_id: str) -> Response:
    found = queries.order_page(hooks().wiring.runner, order_id[:128], _window(), parallel=_parallel)
    if found is None:
        return _message("No such order", "No order with this number in the CRM.", 404)
    return _page(
        "order.html",
        p=found,
        o=found.order,
        admin_url=queries.admin_link(found.order),
        customer_key=queries.customer_key(found.order.get("customer")),
    )


@orders_bp.get("/orders/<order_id>/mail")
@signed_in()
def order_mail(order_id: str) -> Response:
    found = queries.order_page(hooks().wiring.runner, order_id[:128], _window(), parallel=_parallel)
    raw_id = found.order.get("raw_id") if found else None
    raw = queries.raw_event(hooks().wiring.runner, raw_id, _window()) if raw_id else None
    if found is None or raw is None or raw.get("kind") != attn.RAW_EMAIL_KIND:
        return _message("No mail", "This order did not come from an e-mail we kept.", 404)
    return _page("mail.html", mail=queries.mail_text(raw), back=f"/orders/{order_id}")


# ------------------------------------------------------------------- customers
customers_bp = Blueprint("customers", __name__)


@customers_bp.get("/customers")
@signed_in()
def customers() -> Response:
    q = (request.args.get("q") or "").strip()[:100]
    hits = (
        queries.search_customers(
            hooks().wiring.runner, q, _window(), default_country=_country(), parallel=_parallel
        )
        if q
        else []
    )
    return _page("customers.html", q=q, hits=hits)


@customers_bp.get("/customers/lookup.json")
@signed_in(json=True)
def customer_lookup() -> Response:
    """The form asks while a phone is typed: the customer it belongs to, if any."""
    found = queries.lookup_phone(
        hooks().wiring.runner,
        (request.args.get("phone") or "")[:40],
        _window(),
        default_country=_country(),
    )
    return jsonify({"customer": found})


@customers_bp.get("/customers/<key>")
@signed_in()
def customer(key: str) -> Response:
    found = queries.customer_page(hooks().wiring.runner, key[:300], _window(), parallel=_parallel)
    if found is None:
        return _message("No such customer", "Nobody with this phone or e-mail in the CRM.", 404)
    address = found.address or {}
    prefill = {
        "customer_name": found.name,
        "phone": found.phone,
        "email": found.email,
        "address": ", ".join(
            str(address[k]) for k in ("address1", "address2", "city", "zip") if address.get(k)
        ),
    }
    return _page("customer.html", c=found, prefill={k: v for k, v in prefill.items() if v})


# ------------------------------------------------------------------- needs attention
attention_bp = Blueprint("attention", __name__)


@attention_bp.get("/attention")
@signed_in()
def attention() -> Response:
    w = hooks().wiring
    lists = queries.attention(w.runner, _window(), parallel=_parallel)
    marks = w.marks.get_many([row["event_id"] for row in lists["quarantine"]])
    show = request.args.get("show") == "all"
    open_items = [r for r in lists["quarantine"] if not marks.get(r["event_id"], {}).get("handled")]
    try:
        told = [(m.subscriber_id, m.name) for m in (w.notify_list.load() or ())]
    except Exception as exc:  # noqa: BLE001 - the page still shows what needs attention
        logs.warning("managers list unreadable", error=str(exc))
        told = []
    windows = queries.messenger_windows(w.runner, told, now=hooks().now())
    return _page(
        "attention.html",
        windows=windows,
        quarantine=lists["quarantine"] if show else open_items,
        handled_count=len(lists["quarantine"]) - len(open_items),
        show_all=show,
        marks=marks,
        sync=lists["sync"],
        notifications=lists["notifications"],
    )


def _item(event_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    w = hooks().wiring
    item = queries.quarantined(w.runner, event_id[:128], _window())
    raw = None
    if item and item["raw_id"]:
        raw = queries.raw_event(w.runner, item["raw_id"], _window())
    return item, raw


@attention_bp.get("/attention/<event_id>")
@signed_in()
def attention_item(event_id: str) -> Response:
    item, raw = _item(event_id)
    if item is None:
        return _message("Not found", "Nothing with this id is in the quarantine.", 404)
    mail = queries.mail_text(raw) if raw and raw.get("kind") == attn.RAW_EMAIL_KIND else None
    payload = None if mail or raw is None else str(raw.get("body") or "")[:20000]
    mark = hooks().wiring.marks.get_many([item["event_id"]]).get(item["event_id"], {})
    return _page("attention_item.html", item=item, mail=mail, payload=payload, mark=mark)


@attention_bp.post("/attention/<event_id>/handled")
@signed_in()
def attention_handled(event_id: str) -> Response:
    item, _raw = _item(event_id)
    if item is None:
        return _message("Not found", "Nothing with this id is in the quarantine.", 404)
    attn.mark_handled(
        hooks().wiring.marks,
        item["event_id"],
        by=g.manager.id,
        now=hooks().now(),
        note=(request.form.get("note") or "").strip(),
    )
    logs.info("quarantine item handled", manager=g.manager.id, event_id=item["event_id"])
    return _redirect("/attention")


@attention_bp.post("/attention/<event_id>/replay")
@signed_in()
def attention_replay(event_id: str) -> Response:
    w = hooks().wiring
    item, raw = _item(event_id)
    if item is None or raw is None:
        return _message("Not found", "The mail is not in the CRM's raw store.", 404)
    try:
        replay = attn.replay_mail(raw, rules=w.rules, bus=w.bus, now=hooks().now())
    except attn.NotReplayable as exc:
        return _message("Cannot read again", str(exc).capitalize() + ".", 400)
    attn.record_replay(w.marks, item["event_id"], replay, by=g.manager.id, now=hooks().now())
    logs.info(
        "quarantined mail read again",
        manager=g.manager.id,
        event_id=item["event_id"],
        orders=list(replay.published),
    )
    return _page("replayed.html", replay=replay, item=item)


# ------------------------------------------------------------------- settings (owner)
settings_bp = Blueprint("settings", __name__)


def _saved(changes: list[admin.Change]) -> str:
    return f"Saved: {len(changes)} change(s)." if changes else "Nothing changed."


def _settings_page(
    errors: dict[str, str] | None = None, saved: str = "", status: int = 200
) -> Response:
    w = hooks().wiring
    switches = w.switches.get(w.settings.shop)
    try:
        told = w.notify_list.load() or ()
    except Exception as exc:  # noqa: BLE001 - the page still shows the sync settings
        logs.warning("managers list unreadable", error=str(exc))
        told = ()
    prefs = w.preferences.all()
    return _page(
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
    )


@settings_bp.get("/settings")
@signed_in(owner=True)
def settings() -> Response:
    return _settings_page()


@settings_bp.post("/settings/sync")
@signed_in(owner=True)
def settings_sync() -> Response:
    w = hooks().wiring
    current = w.switches.get(w.settings.shop)
    try:
        changes = admin.change_switches(
            w.switches,
            w.audit,
            shop=w.settings.shop,
            assignments=admin.form_assignments(request.form, current),
            by=g.manager.id,
            now=hooks().now(),
        )
    except ValueError as exc:
        return _settings_page({"sync": str(exc)}, status=422)
    logs.info("sync settings changed", manager=g.manager.id, changed=[c.setting for c in changes])
    return _settings_page(saved=_saved(changes))


@settings_bp.post("/settings/notify")
@signed_in(owner=True)
def settings_notify() -> Response:
    w = hooks().wiring
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
        now=hooks().now(),
    )
    return _settings_page(saved=_saved(changes))


# ------------------------------------------------------------------- the app
def money(value: Any, currency: Any = "") -> str:
    """``1,234.50 USD``, ``1,200 JPY`` (``orderhub.money``); ``""`` when not a number."""
    return format_money(value, currency) if amount(value, currency) is not None else ""


def number(value: Any, currency: Any = "") -> str:
    """The amount alone in the currency's decimals (``1,200`` for yen); ``""`` if none."""
    return amount(value, currency) or ""


def when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value or "")


def create_app(h: Hooks) -> Flask:
    """The CRM app, created once per instance."""
    app = Flask(__name__, static_folder=None, template_folder=str(HERE / "templates"))
    app.extensions["orderhub"] = h
    app.jinja_env.autoescape = True  # every template, whatever its file name
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["amount"] = number
    app.jinja_env.filters["when"] = when
    for bp in (auth_bp, form_bp, orders_bp, customers_bp, attention_bp, settings_bp):
        app.register_blueprint(bp)

    @app.context_processor
    def _context() -> dict[str, Any]:
        manager = g.get("manager")
        session = g.get("session")
        return {
            "base": _base(),
            "me": manager,
            "csrf": h.wiring.signer.csrf("form", session.sid) if session else "",
        }

    @app.errorhandler(TransientError)
    def _transient(exc: TransientError) -> Response:
        logs.error("CRM app: a store did not answer", path=request.path, error=str(exc))
        response = _message("Please try again", "Something we rely on did not answer.", 503)
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(404)
    def _not_found(_exc: Any) -> Response:
        return Response("not found\n", status=404, mimetype="text/plain")

    @app.errorhandler(405)
    def _not_allowed(_exc: Any) -> Response:
        return Response("not found\n", status=404, mimetype="text/plain")

    @app.after_request
    def _no_store(response: Response) -> Response:
        if response.mimetype in ("text/html", "application/json"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
