"""The CRM app: ``create_app`` registers one blueprint per area.

``auth`` (sign-in, sign-out, the current manager), ``form`` (the order form), and the
CRM's pages of ``views``: ``orders``, ``customers``, ``attention``, ``settings``;
``shopify_connect`` (another merchant's shop: install flow, connected shops); ``records``
(a customer's edit page, "Send to Shopify now", deleting a customer). The app
itself serves the pages' assets, answers 503 when a store does not answer, and puts a
strict Content-Security-Policy and the other security headers on every response.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request

from orderhub import logs
from orderhub.errors import TransientError
from orderhub.order_form import (
    auth,
    delivery_services,
    form,
    from_mail,
    health,
    order_edits,
    pages,
    payment_links,
    products,
    pwa,
    records,
    shopify_connect,
    teamwork,
    views,
    worklist,
)
from orderhub.order_form.wiring import wiring
from orderhub.sources import manual

HERE = Path(__file__).resolve().parent
ASSETS = {
    "form.css": "text/css",
    "form.js": "text/javascript",
    "crm.css": "text/css",
    "crm.js": "text/javascript",
    "share.js": "text/javascript",
    "pwa.js": "text/javascript",
    "items.js": "text/javascript",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Browsers that once reached the app over HTTPS never try plain HTTP for two years.
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}


def create_app() -> Flask:
    app = Flask(__name__, static_folder=None, template_folder="templates")
    app.jinja_env.autoescape = True  # every template, whatever its file name
    app.jinja_env.filters.update(
        money=pages.money,
        amount=pages.number,
        when=pages.when,
        source=pages.source_name,
        row_source=worklist.row_source,
    )
    app.jinja_env.globals.update(
        channels=manual.CHANNELS, labels=form.FIELD_LABELS, payment_types=manual.PAYMENT_TYPES
    )
    for bp in (
        auth.bp,
        form.bp,
        views.orders_bp,
        views.customers_bp,
        products.bp,
        views.attention_bp,
        views.settings_bp,
        health.bp,
        shopify_connect.bp,
        delivery_services.bp,
        from_mail.bp,
        payment_links.bp,
        pwa.bp,
        records.bp,
        teamwork.bp,
        order_edits.bp,
    ):
        app.register_blueprint(bp)
    # Not /static/: functions-framework's Flask app keeps that path for itself.
    app.add_url_rule("/assets/<name>", "assets", _asset)
    app.context_processor(_context)
    app.register_error_handler(TransientError, _transient)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_found)
    app.after_request(_headers)
    return app


def _context() -> dict[str, Any]:
    session = g.get("session")
    return {
        "base": pages.base(),
        "me": g.get("manager"),
        "csrf": wiring().signer.csrf("form", session.sid) if session else "",
    }


@functools.cache
def _asset_bytes(name: str) -> bytes:
    return (HERE / "static" / name).read_bytes()


def _asset(name: str) -> Response:
    if name not in ASSETS:
        return _not_found(None)
    response = Response(_asset_bytes(name), mimetype=ASSETS[name])
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _transient(exc: TransientError) -> Response:
    """Firestore or BigQuery away, or sign-ins racing: try again in a moment."""
    logs.error("order form: a store did not answer", path=request.path, error=str(exc))
    response = pages.message("Please try again", "Something we rely on did not answer.", 503)
    response.headers["Retry-After"] = "5"
    return response


def _not_found(_exc: Any) -> Response:
    return Response("not found\n", status=404, mimetype="text/plain")


def _headers(response: Response) -> Response:
    if response.mimetype in ("text/html", "application/json"):
        response.headers["Cache-Control"] = "no-store"
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response
