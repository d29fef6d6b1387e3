"""HTTP adapter for ``order_form``: the managers' CRM app (``orderhub.crmapp``).

The function dispatches every request to one Flask application (``crmapp.web.create_app``,
created once per instance) with a blueprint per area. This module wires the collaborators
and keeps the hardened views the app reuses: sign-in, sign-out, the order form, the
product search and the form's assets.

Routes (below ``ORDER_FORM_BASE_PATH``, default none):

=========  ======================  =================================================
GET        /                       the order form (signed-in; ``?customer_name=&phone=
                                   &email=&address=`` fill it in) or a redirect to /signin
POST       /                       save the order, or make a payment link (``action=link``)
GET        /new                    redirects to / (query kept)
GET/POST   /signin                 the sign-in page; signs in
POST       /signout                ends the session
GET        /products               the picker's search, JSON: ``?q=`` name or SKU
GET        /orders, /orders.json   the orders list (filters, search, pages); its JSON
GET        /orders/<id>[/mail]     an order's page; the e-mail it came from, as text
GET        /customers?q=           customers by phone, e-mail or name
GET        /customers/<key>        a customer's page; /customers/lookup.json?phone=
GET        /attention[/<id>]       what needs attention; one quarantined item
POST       /attention/<id>/handled mark handled; ``/replay`` reads a mail again
GET        /settings               owners only (403 otherwise); POST /settings/sync|notify
GET        /assets/...             the pages' scripts and stylesheets
=========  ======================  =================================================

Without a valid session nothing but the sign-in page and its assets is served: pages
redirect to /signin, everything else answers 401. Every POST carries a CSRF token (an
HMAC of the session id, or of a nonce cookie before sign-in); a missing or wrong one is
answered 403.
"""

from __future__ import annotations

import functools
import io
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, jsonify

from orderhub import gcp, logs
from orderhub.bus import PubSubBus
from orderhub.errors import ConfigError, TransientError
from orderhub.orderform import auth, pages, service
from orderhub.orderform.catalogue import BigQueryCatalogue
from orderhub.orderform.client import client_address
from orderhub.orderform.stores import (
    FirestoreDraftLinks,
    FirestoreManagers,
    FirestoreThrottle,
    LeasedFirestoreClaims,
    Manager,
)
from orderhub.settings import OrderFormSettings
from orderhub.shopify_admin import ShopifyAdmin, ShopifyRejected
from orderhub.sources import manual

SESSION_COOKIE = "oh_session"
SIGNIN_COOKIE = "oh_signin"
DEVICE_COOKIE = "oh_device"
#: A resubmitted page is recognised for this long (the form token's claim lifetime) ...
CLAIM_TTL = timedelta(days=7)
#: ... and a page older than this is refused, so every accepted token is still claimed.
FORM_MAX_AGE = timedelta(days=2)
#: The largest request body accepted (a form with a hundred lines is a few kB).
MAX_BODY = 1 << 20
#: What a link may fill in on a new form (the customer's page's "New order").
PREFILL_FIELDS = ("customer_name", "phone", "email", "address")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Browsers that once reached the form over HTTPS never try plain HTTP for two years.
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}


class Wiring:
    """Real collaborators, each created on first use (a sign-in never loads BigQuery)."""

    def __init__(self, settings: OrderFormSettings) -> None:
        self.settings = settings
        self.signer = auth.Signer(settings.session_secret)

    def _collection(self, name: str) -> str:
        return f"{self.settings.firestore_prefix}{name}"

    @functools.cached_property
    def firestore(self) -> Any:
        return gcp.firestore_client(self.settings.project)

    @functools.cached_property
    def managers(self) -> FirestoreManagers:
        # Managers and their password hashes live in a database this function may only
        # read; sign-outs are written beside the form's other state.
        database = gcp.firestore_client(self.settings.project, self.settings.managers_database)
        return FirestoreManagers(
            database,
            self._collection("managers"),
            signouts=self.firestore.collection(self._collection("manager_signouts")),
        )

    @functools.cached_property
    def throttle(self) -> FirestoreThrottle:
        return FirestoreThrottle(self.firestore, self._collection("signin_throttle"))

    @functools.cached_property
    def claims(self) -> LeasedFirestoreClaims:
        return LeasedFirestoreClaims(
            self.firestore, self._collection("order_form_claims"), CLAIM_TTL
        )

    @functools.cached_property
    def links(self) -> FirestoreDraftLinks:
        return FirestoreDraftLinks(self.firestore, self._collection("draft_links"), CLAIM_TTL)

    @functools.cached_property
    def bus(self) -> PubSubBus:
        topic = gcp.topic_path(self.settings.project, self.settings.topic)
        return PubSubBus(gcp.publisher(), topic)

    @functools.cached_property
    def catalogue(self) -> BigQueryCatalogue:
        client = gcp.bigquery_client(self.settings.project, self.settings.bigquery_endpoint)
        return BigQueryCatalogue(client, self.settings.dataset)

    # ------------------------------------------------------------- the CRM app's
    @functools.cached_property
    def runner(self) -> Any:
        from orderhub.crmapp.queries import BigQueryRunner

        client = gcp.bigquery_client(self.settings.project, self.settings.bigquery_endpoint)
        return BigQueryRunner(client, self.settings.crm_dataset)

    @functools.cached_property
    def _pool(self) -> Any:
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(max_workers=4, thread_name_prefix="crm-query")

    def parallel(self, *jobs: tuple[str, list[Any]]) -> list[Any]:
        """Run independent queries at once (a page's reads): their rows, in order."""
        futures = [self._pool.submit(self.runner, sql, params) for sql, params in jobs]
        return [f.result() for f in futures]

    @functools.cached_property
    def marks(self) -> Any:
        from orderhub.crmapp.attention import FirestoreMarks

        return FirestoreMarks(self.firestore, self._collection("attention_marks"))

    @functools.cached_property
    def audit(self) -> Any:
        from orderhub.crmapp.admin import FirestoreAudit

        return FirestoreAudit(self.firestore, self._collection("settings_audit"))

    @functools.cached_property
    def preferences(self) -> Any:
        from orderhub.crmapp.admin import FirestorePreferences

        return FirestorePreferences(self.firestore, self._collection("notify_preferences"))

    @functools.cached_property
    def switches(self) -> Any:
        from orderhub.outbound.switches import FirestoreSwitches

        return FirestoreSwitches(self.firestore, self._collection("sync_settings"))

    @functools.cached_property
    def notify_list(self) -> Any:
        """Who the notifier tells (settings/managers, in the managers database: read only)."""
        from orderhub import managers

        database = gcp.firestore_client(self.settings.project, self.settings.managers_database)
        return managers.FirestoreManagers(database, self.settings.firestore_prefix)

    @functools.cached_property
    def rules(self) -> Any:
        from orderhub.sources import email

        return email.shipped_rules()

    @functools.cached_property
    def shopify(self) -> ShopifyAdmin:
        import requests

        return ShopifyAdmin(
            base_url=self.settings.shopify_admin_url,
            access_token=self.settings.shopify_admin_token,
            api_version=self.settings.shopify_api_version,
            session=requests.Session(),
        )


@functools.cache
def _wiring() -> Wiring:
    return Wiring(OrderFormSettings.from_env())


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ helpers
def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _redirect(location: str) -> Response:
    response = Response("", status=303)
    response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    return response


def _secure(request: Any) -> bool:
    """Cookies are ``Secure`` everywhere but on a developer's own machine (plain http)."""
    host = str(request.host or "")
    name = host.split("]")[0] + "]" if host.startswith("[") else host.split(":")[0]
    return name not in LOCAL_HOSTS


def _set_cookie(response: Response, request: Any, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=_wiring().settings.base_path or "/",
        secure=_secure(request),
        httponly=True,
        samesite="Lax",
    )


def _client_ip(request: Any) -> str:
    """The entry our own front end appended to X-Forwarded-For (``orderform.client``)."""
    return client_address(
        request.headers.get("X-Forwarded-For"),
        request.remote_addr,
        _wiring().settings.trusted_hops,
    )


def _current(w: Wiring, request: Any) -> tuple[auth.Session, Manager] | None:
    """The signed-in manager, if the cookie is genuine, fresh and still matches them."""
    session = w.signer.read(
        request.cookies.get(SESSION_COOKIE), max_age_s=w.settings.session_hours * 3600
    )
    if session is None:
        return None
    manager = w.managers.get(session.manager)
    if (
        manager is None
        or not manager.active
        or auth.fingerprint(manager.password_hash) != session.fingerprint
        or manager.session_ended(session.issued_ms)
    ):
        return None
    return session, manager


def _form_page(
    w: Wiring,
    session: auth.Session,
    manager: Manager,
    *,
    form: manual.FormInput,
    form_token: str,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    settings = w.settings
    empty = dict.fromkeys(manual.LINE_FIELDS, "")
    body = pages.render(
        "form.html",
        base=settings.base_path,
        manager=manager.name,
        owner=manager.is_owner,
        csrf=w.signer.csrf("form", session.sid),
        form_token=form_token,
        form=form,
        lines=[*form.lines, empty],
        empty_row=empty,
        errors=errors or {},
        notice=notice,
        currency=settings.currency,
        total=str(manual.typed_total(form.lines)),
        delivery_methods=[(m, pages.delivery_label(m)) for m in settings.delivery_methods],
        link_enabled=bool(settings.shopify_admin_token),
        phone_example=manual.example_phone(settings.default_country),
    )
    return _html(body, status)


def _signin_page(
    w: Wiring, request: Any, *, name: str = "", error: str | None = None, status: int = 200
) -> Response:
    nonce = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(16)
    body = pages.render(
        "signin.html",
        base=w.settings.base_path,
        manager=None,
        csrf=w.signer.csrf("signin", nonce),
        name=name,
        error=error,
    )
    response = _html(body, status)
    _set_cookie(response, request, SIGNIN_COOKIE, nonce, 3600)
    return response


def _message(w: Wiring, heading: str, text: str, status: int) -> Response:
    body = pages.render(
        "message.html", base=w.settings.base_path, manager=None, heading=heading, text=text
    )
    return _html(body, status)


# ------------------------------------------------------------------- routes
def _signin(w: Wiring, request: Any) -> Response:
    if request.method == "GET":
        if _current(w, request) is not None:
            return _redirect(w.settings.base_path + "/")
        return _signin_page(w, request)
    name = (request.form.get("manager") or "").strip()
    if not w.signer.check_csrf(
        "signin", request.cookies.get(SIGNIN_COOKIE), request.form.get("csrf_token")
    ):
        return _signin_page(w, request, name=name, error="Please sign in again.", status=403)
    try:
        ident = auth.manager_id(name)
    except ValueError:
        ident = ""
    device = w.signer.device_manager(request.cookies.get(DEVICE_COOKIE))
    result = service.sign_in(
        manager_id=ident,
        password=request.form.get("password") or "",
        client_ip=_client_ip(request),
        managers=w.managers,
        throttle=w.throttle,
        now=_now,
        known_device=bool(ident) and device == ident,
    )
    if result.wait_s > 0:
        wait = int(result.wait_s + 0.999)
        logs.warning(
            "sign-in refused while backing off", name_digest=w.signer.log_digest(ident), wait_s=wait
        )
        response = _signin_page(
            w,
            request,
            name=name,
            error=f"Too many failed attempts. Try again in {wait} seconds.",
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if result.manager is None:
        # What was typed as a name may be a password typed in the wrong field: log a digest.
        logs.warning("sign-in failed", name_digest=w.signer.log_digest(ident))
        return _signin_page(w, request, name=name, error="Wrong name or password.", status=401)
    value, _session = w.signer.issue(result.manager.id, result.manager.password_hash, now=_now())
    logs.info("manager signed in", manager=result.manager.id)
    response = _redirect(w.settings.base_path + "/")
    _set_cookie(response, request, SESSION_COOKIE, value, w.settings.session_hours * 3600)
    if device != result.manager.id:  # this browser is now known for this manager
        device_value = w.signer.device(result.manager.id)
        _set_cookie(response, request, DEVICE_COOKIE, device_value, auth.DEVICE_DAYS * 86400)
    response.delete_cookie(SIGNIN_COOKIE, path=w.settings.base_path or "/")
    return response


def _signout(w: Wiring, request: Any) -> Response:
    current = _current(w, request)
    if current is not None and not w.signer.check_csrf(
        "form", current[0].sid, request.form.get("csrf_token")
    ):
        return _message(w, "Not signed out", "Reload the page and try again.", 403)
    if current is not None:
        # The cookie is deleted below, but a copy of it (another tab, another device, a
        # stolen one) must stop working too: sessions signed in until now are over.
        w.managers.sign_out(current[0].manager, now=_now())
        logs.info("manager signed out", manager=current[0].manager)
    response = _redirect(w.settings.base_path + "/signin")
    response.delete_cookie(SESSION_COOKIE, path=w.settings.base_path or "/")
    return response


def _products(w: Wiring, request: Any) -> Response:
    if _current(w, request) is None:
        return Response('{"error": "sign in first"}', status=401, mimetype="application/json")
    try:
        found = w.catalogue.search(request.args.get("q", ""), shop=w.settings.shop)
    except TransientError as exc:
        logs.error("product search failed", error=str(exc))
        return Response('{"error": "search unavailable"}', status=503, mimetype="application/json")
    response = jsonify({"products": [p.as_json() for p in found]})
    response.headers["Cache-Control"] = "no-store"
    return response


def _order(w: Wiring, request: Any) -> Response:
    current = _current(w, request)
    if current is None:
        if request.method == "GET":
            return _redirect(w.settings.base_path + "/signin")
        return _signin_page(w, request, error="Please sign in first.", status=401)
    session, manager = current
    if request.method == "GET":
        token = manual.new_form_token(_now())
        # "New order for this customer": the customer's page links here with their details.
        prefill = {
            key: str(request.args.get(key) or "")[:200]
            for key in PREFILL_FIELDS
            if request.args.get(key)
        }
        return _form_page(
            w,
            session,
            manager,
            form=manual.FormInput(fields={"channel": "phone", "delivery_method": "", **prefill}),
            form_token=token,
        )

    if not w.signer.check_csrf("form", session.sid, request.form.get("csrf_token")):
        logs.warning("order form refused: bad CSRF token", manager=manager.id)
        return _message(
            w,
            "Form expired",
            "This form was not accepted. Reload the page and enter it again.",
            403,
        )
    token = request.form.get("form_token") or ""
    if not manual.valid_token(token, _now(), FORM_MAX_AGE):
        return _message(
            w,
            "Form too old",
            "This page is too old to send. Open a new form and enter it again.",
            400,
        )
    settings = w.settings
    values = {key: request.form.get(key) or "" for key in request.form}
    form = manual.read_form(values)
    link_mode = request.form.get("action") == "link" and bool(settings.shopify_admin_token)
    order, errors = manual.validate(
        form,
        link_mode=link_mode,
        default_country=settings.default_country,
        currency=settings.currency,
        delivery_methods=settings.delivery_methods
        if not link_mode
        else (
            *settings.delivery_methods,
            "",
        ),
    )
    if order is None:
        logs.info("order form returned with errors", manager=manager.id, fields=sorted(errors))
        return _form_page(
            w, session, manager, form=form, form_token=token, errors=errors, status=422
        )

    def again(notice: str, status: int) -> Response:
        return _form_page(
            w, session, manager, form=form, form_token=token, notice=notice, status=status
        )

    if link_mode:
        try:
            link = service.create_link(
                order=order,
                manager=manager.id,
                form_token=token,
                links=w.links,
                shopify=w.shopify,
                now=_now,
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
        body = pages.render(
            "link.html",
            base=settings.base_path,
            manager=manager.name,
            csrf=w.signer.csrf("form", session.sid),
            invoice_url=link.invoice_url,
            name=link.name,
            duplicate=link.duplicate,
            pending=link.pending,
        )
        return _html(body, 200)

    try:
        recorded = service.record_order(
            order=order,
            manager=manager.id,
            form_token=token,
            shop=settings.shop,
            claims=w.claims,
            bus=w.bus,
            now=_now,
        )
    except service.InProgress:
        return again("This order is being saved right now. Tap Save again in a moment.", 409)
    except TransientError as exc:
        logs.error("order not saved", manager=manager.id, error=str(exc))
        return again(
            "The order could not be saved just now. Nothing was recorded; tap Save again.", 503
        )
    body = pages.render(
        "done.html",
        base=settings.base_path,
        manager=manager.name,
        csrf=w.signer.csrf("form", session.sid),
        order_id=recorded.order_id,
        duplicate=recorded.duplicate,
        order=None if recorded.duplicate else order,
    )
    return _html(body, 200 if recorded.duplicate else 201)


def _static(name: str) -> Response:
    found = pages.static_file(name)
    if found is None:
        return Response("not found\n", status=404, mimetype="text/plain")
    content, media_type = found
    response = Response(content, status=200, mimetype=media_type)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@functools.cache
def _app() -> Flask:
    """The CRM app, created once per instance (``crmapp.web``)."""
    from orderhub.crmapp.web import Hooks, create_app

    w = _wiring()
    return create_app(
        Hooks(
            wiring=w,
            current=lambda request: _current(w, request),
            signin=lambda request: _signin(w, request),
            signout=lambda request: _signout(w, request),
            form=lambda request: _order(w, request),
            products=lambda request: _products(w, request),
            static=_static,
            now=_now,
        )
    )


def handle(request: Any) -> Response:
    w = _wiring()
    app = _app()
    path = request.path or "/"
    if (request.content_length or 0) > MAX_BODY:
        return Response("too large\n", status=413, mimetype="text/plain")
    # The app reads the body from its own environ; functions-framework drains the outer
    # request afterwards, so the body is read once here and handed over as a copy.
    body = request.get_data(cache=True)
    environ = dict(request.environ)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    base = w.settings.base_path
    if base and (path == base or path.startswith(base + "/")):
        environ["SCRIPT_NAME"] = base
        environ["PATH_INFO"] = path[len(base) :] or "/"
    try:
        with app.request_context(environ):
            response = app.full_dispatch_request()
    except TransientError as exc:  # Firestore or BigQuery away, or sign-ins racing
        logs.error("order form: a store did not answer", path=path, error=str(exc))
        response = _message(w, "Please try again", "Something we rely on did not answer.", 503)
        response.headers["Retry-After"] = "5"
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response
