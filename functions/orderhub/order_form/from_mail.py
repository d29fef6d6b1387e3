"""The ``from_mail`` blueprint: "Make an order from this mail" (issue 22 item 6).

``GET /attention/<id>/order``: the order form, prefilled with what today's rules could read
of the quarantined mail, the mail beside it. ``POST`` saves it as a manual order that
references the mail (``external_ref``, a ``from-mail:`` tag, the raw record's meta) and
marks the quarantine item handled. The order's key derives from the quarantine item
(``quarantine.order_key``), so however often it is saved, and by whom, it is one order.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from orderhub import logs
from orderhub.errors import TransientError
from orderhub.order_form import attention as attn
from orderhub.order_form import form, pages, quarantine, queries, service
from orderhub.order_form.auth import login_required
from orderhub.order_form.wiring import now, wiring
from orderhub.sources import manual

bp = Blueprint("from_mail", __name__)


def _window() -> queries.Window:
    return queries.Window(now=now(), history_days=wiring().settings.history_days)


def _load(event_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    w = wiring()
    item = queries.quarantined(w.runner, event_id[:128], _window())
    if item is None or not item.get("raw_id"):
        return None
    raw = queries.raw_event(w.runner, item["raw_id"], _window())
    if raw is None or raw.get("kind") != attn.RAW_EMAIL_KIND:
        return None
    return item, raw


def _mail_ref(item: dict[str, Any], raw: dict[str, Any], found: Any) -> dict[str, str]:
    return {
        "quarantine_event_id": str(item["event_id"]),
        "gmail_message_id": str(item.get("ref") or ""),
        "service": str(item.get("source") or "").removeprefix("email:"),
        "order_number": found.order_number if found else "",
    }


def _page(
    item: dict[str, Any],
    raw: dict[str, Any],
    typed: manual.FormInput,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    found = quarantine.readout(raw, wiring().rules)
    return form._form_page(
        typed,
        manual.new_form_token(now()),
        errors=errors,
        notice=notice,
        status=status,
        heading="Order from a mail",
        form_action=f"/attention/{item['event_id']}/order",
        beside=queries.mail_text(raw),
        readout=found,
        reasons=quarantine.plain_reasons(item.get("reason")),
    )


def _already(item: dict[str, Any]) -> Response | None:
    """The order this mail already became (made here, or read again after a rules fix)."""
    mark = wiring().marks.get_many([item["event_id"]]).get(item["event_id"], {})
    if mark.get("order_id"):
        return pages.message(
            "Already made",
            f"Order {mark['order_id']} was made from this mail by {mark.get('by', '')}.",
            200,
            back=f"/orders/{mark['order_id']}",
        )
    replayed = [str(o) for o in mark.get("replayed_orders") or []]
    if replayed:
        return pages.message(
            "Already an order",
            f"This mail was read again into order {', '.join(replayed)}.",
            200,
            back=f"/orders/{replayed[0]}",
        )
    return None


@bp.get("/attention/<event_id>/order")
@login_required
def order_from_mail(event_id: str) -> Response:
    loaded = _load(event_id)
    if loaded is None:
        return pages.message("Not found", "No quarantined e-mail with this id.", 404)
    item, raw = loaded
    made = _already(item)
    if made is not None:
        return made
    fields, lines = quarantine.prefill(quarantine.readout(raw, wiring().rules))
    return _page(item, raw, manual.FormInput(fields=fields, lines=lines))


@bp.post("/attention/<event_id>/order")
@login_required
def save_order_from_mail(event_id: str) -> Response:
    loaded = _load(event_id)
    if loaded is None:
        return pages.message("Not found", "No quarantined e-mail with this id.", 404)
    item, raw = loaded
    w = wiring()
    mark = w.marks.get_many([item["event_id"]]).get(item["event_id"], {})
    if mark.get("replayed_orders"):  # a second order for one mail: refused
        return _already(item) or pages.message("Already an order", "", 200)
    settings = w.settings
    typed = manual.read_form({key: request.form.get(key) or "" for key in request.form})
    order, errors = manual.validate(
        typed,
        link_mode=False,
        default_country=settings.default_country,
        currency=settings.currency,
        delivery_methods=settings.delivery_methods,
    )
    if order is None:
        return _page(item, raw, typed, errors=errors, status=422)
    found = quarantine.readout(raw, w.rules)
    try:
        recorded = service.record_order(
            order=order,
            manager=g.manager.id,
            form_token=quarantine.order_key(str(item["event_id"])),
            shop=settings.shop,
            claims=w.claims,
            bus=w.bus,
            now=now,
            mail=_mail_ref(item, raw, found),
        )
    except service.InProgress:
        return _page(item, raw, typed, notice="Being saved right now: tap Save again.", status=409)
    except TransientError as exc:
        logs.error("order from mail not saved", manager=g.manager.id, error=str(exc))
        return _page(
            item,
            raw,
            typed,
            notice="Not saved just now; nothing was recorded. Tap Save again.",
            status=503,
        )
    w.marks.mark(
        str(item["event_id"]),
        {
            "handled": True,
            "by": g.manager.id,
            "at": now(),
            "note": f"order {recorded.order_id} made from this mail",
            "order_id": recorded.order_id,
        },
    )
    logs.info(
        "order made from a quarantined mail",
        manager=g.manager.id,
        event_id=item["event_id"],
        order_id=recorded.order_id,
        duplicate=recorded.duplicate,
    )
    return pages.page(
        "done.html",
        200 if recorded.duplicate else 201,
        order_id=recorded.order_id,
        duplicate=recorded.duplicate,
        order=None if recorded.duplicate else order,
    )


RAWS_SQL = """
SELECT raw_id, kind, source, shop, received_at, meta, body
FROM `{t}.raw_events`
WHERE received_at >= @since AND raw_id IN UNNEST(@ids) AND kind = @kind
LIMIT @limit
"""
#: Mails read again for the list, at most (each is a few ms of parsing and up to 1 MB).
LIST_READOUTS = 25


def readouts(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For the attention list: each item's reasons in words and, for a mail, what today's
    rules could read of it (one BigQuery query for all the listed mails)."""
    w = wiring()
    shown: dict[str, dict[str, Any]] = {
        str(i["event_id"]): {"reasons": quarantine.plain_reasons(i.get("reason"))} for i in items
    }
    mails = [i for i in items if i.get("raw_id") and str(i.get("source", "")).startswith("email:")]
    mails = mails[:LIST_READOUTS]
    if not mails:
        return shown
    rows = w.runner(
        RAWS_SQL,
        [
            ("since", "TIMESTAMP", _window().since),
            ("ids", "ARRAY<STRING>", [str(i["raw_id"]) for i in mails]),
            ("kind", "STRING", attn.RAW_EMAIL_KIND),
            ("limit", "INT64", len(mails)),
        ],
    )
    raws = {str(r["raw_id"]): r for r in rows}
    for item in mails:
        found = quarantine.readout(raws.get(str(item["raw_id"])), w.rules)
        if found is not None:
            shown[str(item["event_id"])]["read"] = found
    return shown
