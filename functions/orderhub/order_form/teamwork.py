"""The ``teamwork`` blueprint: managers working together (issue 22).

=========  ===============================  ==========================================
POST       /orders/<id>/assign              ``assignee``: a manager's sign-in name, or
                                            empty for nobody: one ``order.action`` event
                                            (kind ``assign``), who and when
POST       /customers/<key>/comments        ``text``: a comment on the customer, one
                                            ``customer.comment`` event, who and when
POST       /signout/everywhere              ends every session of this manager, on every
                                            device (``/signout`` ends this device's only)
=========  ===============================  ==========================================

"My orders" and the other saved views are the list's ``?view=`` (``queries.VIEWS``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, g, request

from orderhub import logs
from orderhub.order_form import actions as acts
from orderhub.order_form import auth, customer_notes, pages, queries, views, worklist
from orderhub.order_form.wiring import now, wiring
from orderhub.sources import manual

bp = Blueprint("teamwork", __name__)


@bp.post("/orders/<order_id>/assign")
@auth.login_required
def order_assign(order_id: str) -> Response:
    managers = worklist.assignable(wiring().managers)

    def read(form: Any) -> acts.Action:
        return acts.read_assign(form, managers)

    return views._act(order_id, read)


@bp.post("/customers/<key>/comments")
@auth.login_required
def customer_comment(key: str) -> Response:
    w = wiring()
    window = queries.Window(now=now(), history_days=w.settings.history_days)
    found = queries.customer_page(w.runner, key[:300], window, parallel=w.parallel)
    if found is None:
        return pages.message(
            "No such customer", "Nobody with this phone or e-mail in the CRM.", 404
        )
    token = request.form.get("action_token") or ""
    if not manual.valid_token(token, now(), acts.TOKEN_MAX_AGE):
        return views._customer_page(found, error="This page is too old: try again.", status=409)
    try:
        text = acts.read_comment(request.form).text or ""
        event = customer_notes.comment_event(
            text,
            shop=w.settings.shop,
            customer_key=found.key,
            manager=g.manager.id,
            manager_name=g.manager.name,
            token=token,
            at=now(),
        )
    except acts.Refused as exc:
        return views._customer_page(found, error=str(exc), status=422)
    w.bus.publish(event)
    logs.info("customer comment", manager=g.manager.id, event_id=event["event_id"])
    return pages.redirect(f"/customers/{quote(found.key, safe='')}?done=comment#comments")


@bp.post("/signout/everywhere")
def signout_everywhere() -> Response:
    if g.manager is not None and not auth.csrf_ok():
        return pages.message("Not signed out", "Reload the page and try again.", 403, back="/")
    if g.manager is not None:
        # Every session signed in until now is over, on every device (and every copy).
        wiring().managers.sign_out(g.session.manager, now=now())
        logs.info("manager signed out everywhere", manager=g.session.manager)
    return auth.signed_out()
