"""The ``teamwork`` blueprint: managers working together (issue 22).

=========  ===============================  ==========================================
POST       /orders/<id>/assign              ``assignee``: a manager's sign-in name, or
                                            empty for nobody: one ``order.action`` event
                                            (kind ``assign``), who and when
POST       /signout/everywhere              ends every session of this manager, on every
                                            device (``/signout`` ends this device's only)
=========  ===============================  ==========================================

"My orders" and the other saved views are the list's ``?view=`` (``queries.VIEWS``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from orderhub import logs
from orderhub.order_form import actions as acts
from orderhub.order_form import auth, pages, views, worklist
from orderhub.order_form.wiring import now, wiring

bp = Blueprint("teamwork", __name__)


@bp.post("/orders/<order_id>/assign")
@auth.login_required
def order_assign(order_id: str) -> Response:
    managers = worklist.assignable(wiring().managers)

    def read(form: Any) -> acts.Action:
        return acts.read_assign(form, managers)

    return views._act(order_id, read)


@bp.post("/signout/everywhere")
def signout_everywhere() -> Response:
    if g.manager is not None and not auth.csrf_ok():
        return pages.message("Not signed out", "Reload the page and try again.", 403, back="/")
    if g.manager is not None:
        # Every session signed in until now is over, on every device (and every copy).
        wiring().managers.sign_out(g.session.manager, now=now())
        logs.info("manager signed out everywhere", manager=g.session.manager)
    return auth.signed_out()
