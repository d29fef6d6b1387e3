"""Managers' comments on a customer (issue 22), like comments on an order. No Flask here.

Each comment is one canonical ``customer.comment`` event (entity ``customer_comment``,
table ``customer_comments``): who (``manager``), when (``occurred_at``), on whom
(``customer_key``: the customer page's key, ``p<phone digits>``, ``e:<e-mail>`` or
``c:<record id>``) and what (``text``). The same form token and text give the same event
id, so a double tap is one comment. An erasure request clears the text and the key
(``privacy_erase``).
"""

from __future__ import annotations

from datetime import datetime

from orderhub.event import Event, make_event, stable_id
from orderhub.order_form import actions as acts
from orderhub.order_form import queries

SOURCE = "manual"  # the CRM app


def comment_event(
    text: str,
    *,
    shop: str,
    customer_key: str,
    manager: str,
    manager_name: str,
    token: str,
    at: datetime,
) -> Event:
    """The ``customer.comment`` event (``Refused`` for a token that is not ours)."""
    version = acts.token_version(token)
    if version is None:
        raise acts.Refused("This form is not ours: reload the page")
    comment_id = "C-" + stable_id(SOURCE, shop, customer_key, token, text)[:20]
    return make_event(
        event_type="customer.comment",
        source=SOURCE,
        shop=shop,
        occurred_at=at,
        version=version,
        entity_id=comment_id,
        entity={
            "comment_id": comment_id,
            "customer_key": customer_key,
            "text": text,
            "manager": manager,
            "manager_name": manager_name,
        },
    )


def comments(run: queries.Runner, key: str, window: queries.Window) -> queries.Rows:
    """The customer's comments, oldest first (``queries.CUSTOMER_COMMENTS_SQL``)."""
    params: list[queries.Param] = [("since", "TIMESTAMP", window.since), ("key", "STRING", key)]
    return run(queries.CUSTOMER_COMMENTS_SQL, params)
