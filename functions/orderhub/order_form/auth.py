"""The ``auth`` blueprint: sign-in, sign-out and the current manager, as flaskr's does.

* ``load_manager`` runs before every request (``before_app_request``): ``g.manager`` and
  ``g.session`` are the signed-in manager and their session, or ``None``. A session
  counts only if its cookie is genuine and fresh, and the manager is still active, has
  the password the session was signed in with, and has not signed out since.
* ``login_required`` guards a view: without a session a page (GET) redirects to /signin
  and anything else answers 401 (JSON for ``json=True``); ``owner=True`` answers 403 to a
  manager; every POST needs the session's CSRF token (403 without it).
* Sign-in: a CSRF token bound to a nonce cookie even before sign-in; failures slow down
  per name at the client's address, per address and (for browsers without the manager's
  device cookie) per name; the address is the one our own proxies appended to
  X-Forwarded-For (``client``); a hash made with older scrypt parameters is replaced.
  Typed names reach the logs only as a keyed digest (``Signer.log_digest``).
* Sign-out ends this device's session (a copy of its cookie stops working too); "sign out
  everywhere" (``teamwork``) ends every session the manager had, on every device.
* Cookies are HttpOnly, SameSite=Lax, scoped to the base path, and Secure everywhere but
  on a developer's own machine (plain http on localhost).

Passwords, signed sessions and CSRF tokens themselves are ``sessions``; the flows with
the stores are ``service.sign_in``.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast, overload

from flask import Blueprint, Response, g, request

from orderhub import logs
from orderhub.order_form import pages, service, sessions
from orderhub.order_form.client import client_address
from orderhub.order_form.sessions import Session
from orderhub.order_form.stores import Manager
from orderhub.order_form.wiring import now, wiring

bp = Blueprint("auth", __name__)

SESSION_COOKIE = "oh_session"
SIGNIN_COOKIE = "oh_signin"
DEVICE_COOKIE = "oh_device"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
#: Served to anyone, without reading the session (no store read per script or stylesheet).
PUBLIC_ENDPOINTS = {"assets"}

View = TypeVar("View", bound=Callable[..., Any])


# ------------------------------------------------------------------ the current manager
def current_manager() -> tuple[Session, Manager] | None:
    """The signed-in manager, if the cookie is genuine, fresh and still matches them."""
    w = wiring()
    session = w.signer.read(
        request.cookies.get(SESSION_COOKIE), max_age_s=w.settings.session_hours * 3600
    )
    if session is None:
        return None
    manager = w.managers.get(session.manager)
    if (
        manager is None
        or not manager.active
        or sessions.fingerprint(manager.password_hash) != session.fingerprint
        or manager.session_ended(session.issued_ms)
        or sessions.sid_digest(session.sid) in manager.ended_sessions
    ):
        return None
    return session, manager


@bp.before_app_request
def load_manager() -> None:
    g.session, g.manager = None, None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    current = current_manager()
    if current is not None:
        g.session, g.manager = current


def csrf_ok() -> bool:
    """The POST carries the CSRF token of the current session."""
    session = g.get("session")
    return session is not None and wiring().signer.check_csrf(
        "form", session.sid, request.form.get("csrf_token")
    )


@overload
def login_required(view: View) -> View: ...


@overload
def login_required(*, owner: bool = False, json: bool = False) -> Callable[[View], View]: ...


def login_required(
    view: View | None = None, *, owner: bool = False, json: bool = False
) -> View | Callable[[View], View]:
    """A view for signed-in managers (``owner``: owners only; ``json``: a JSON endpoint);
    its POSTs need the session's CSRF token."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.manager is None:
                if json:
                    return Response('{"error": "sign in first"}', 401, mimetype="application/json")
                if request.method == "GET":
                    return pages.redirect("/signin")
                return Response("sign in first\n", status=401, mimetype="text/plain")
            if owner and not g.manager.is_owner:
                logs.warning("owner page refused", manager=g.manager.id, path=request.path)
                return pages.message(
                    "Owners only", "Only the shop's owner can change settings.", 403
                )
            if request.method == "POST" and not csrf_ok():
                return pages.message("Form expired", "Reload the page and try again.", 403)
            return view(*args, **kwargs)

        return cast(View, wrapper)

    return decorate(view) if view is not None else decorate


# ------------------------------------------------------------------ cookies, the client
def _secure() -> bool:
    """Cookies are ``Secure`` everywhere but on a developer's own machine (plain http)."""
    host = str(request.host or "")
    name = host.split("]")[0] + "]" if host.startswith("[") else host.split(":")[0]
    return name not in LOCAL_HOSTS


def _set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=pages.base() or "/",
        secure=_secure(),
        httponly=True,
        samesite="Lax",
    )


def _client_ip() -> str:
    """The entry our own front end appended to X-Forwarded-For (``client``)."""
    return client_address(
        request.headers.get("X-Forwarded-For"),
        request.remote_addr,
        wiring().settings.trusted_hops,
    )


def signin_page(*, name: str = "", error: str | None = None, status: int = 200) -> Response:
    """The sign-in page, its CSRF token bound to a nonce cookie (set here if missing)."""
    nonce = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(16)
    response = pages.page(
        "signin.html",
        status,
        csrf=wiring().signer.csrf("signin", nonce),
        name=name,
        error=error,
    )
    _set_cookie(response, SIGNIN_COOKIE, nonce, 3600)
    return response


# ------------------------------------------------------------------ the views
@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Response:
    w = wiring()
    if request.method == "GET":
        if g.manager is not None:
            return pages.redirect("/")
        return signin_page()
    name = (request.form.get("manager") or "").strip()
    if not w.signer.check_csrf(
        "signin", request.cookies.get(SIGNIN_COOKIE), request.form.get("csrf_token")
    ):
        return signin_page(name=name, error="Please sign in again.", status=403)
    try:
        ident = sessions.manager_id(name)
    except ValueError:
        ident = ""
    device = w.signer.device_manager(request.cookies.get(DEVICE_COOKIE))
    result = service.sign_in(
        manager_id=ident,
        password=request.form.get("password") or "",
        client_ip=_client_ip(),
        managers=w.managers,
        throttle=w.throttle,
        now=now,
        known_device=bool(ident) and device == ident,
    )
    if result.wait_s > 0:
        wait = int(result.wait_s + 0.999)
        logs.warning(
            "sign-in refused while backing off", name_digest=w.signer.log_digest(ident), wait_s=wait
        )
        response = signin_page(
            name=name, error=f"Too many failed attempts. Try again in {wait} seconds.", status=429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if result.manager is None:
        # What was typed as a name may be a password typed in the wrong field: log a digest.
        logs.warning("sign-in failed", name_digest=w.signer.log_digest(ident))
        return signin_page(name=name, error="Wrong name or password.", status=401)
    value, _session = w.signer.issue(result.manager.id, result.manager.password_hash, now=now())
    logs.info("manager signed in", manager=result.manager.id)
    response = pages.redirect("/")
    _set_cookie(response, SESSION_COOKIE, value, w.settings.session_hours * 3600)
    if device != result.manager.id:  # this browser is now known for this manager
        device_value = w.signer.device(result.manager.id)
        _set_cookie(response, DEVICE_COOKIE, device_value, sessions.DEVICE_DAYS * 86400)
    response.delete_cookie(SIGNIN_COOKIE, path=pages.base() or "/")
    return response


@bp.post("/signout")
def signout() -> Response:
    if g.manager is not None and not csrf_ok():
        return pages.message("Not signed out", "Reload the page and try again.", 403, back="/")
    if g.manager is not None:
        # The cookie is deleted below, but a copy of it (another tab, a stolen one) must
        # stop working too: this session is over. The manager's other devices stay in.
        w = wiring()
        w.managers.end_session(
            g.session.manager,
            sessions.sid_digest(g.session.sid),
            now=now(),
            keep=timedelta(hours=w.settings.session_hours),
        )
        logs.info("manager signed out", manager=g.session.manager)
    return signed_out()


def signed_out() -> Response:
    """To the sign-in page, without the session cookie."""
    response = pages.redirect("/signin")
    response.delete_cookie(SESSION_COOKIE, path=pages.base() or "/")
    return response
