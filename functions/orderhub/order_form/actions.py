"""A manager's actions on an order: the pipeline status, "paid", comments, assignment,
edits of the shipping address and note. No Flask here.

Each action is one canonical ``order.action`` event (entity ``order_action``, table
``order_actions``): who (``manager``), when (``occurred_at``) and what (``kind``:
``status``, ``paid``, ``comment``, ``assign`` or ``edit``, with the status, tracking number
and carrier, cancel reason, text, the manager the order is assigned to: ``assignee``,
``None`` to unassign, or an edit's ``shipping_address`` (``None``: unchanged) and ``note``
(``""``: cleared)). The event names the order by its key (``order_source``, ``shop``,
``order_id``), so the order's own versions (Shopify's webhooks among them) never overwrite
what a manager did: the ``orders`` view and the order's page join the newest status.

The pipeline: new → confirmed → packed → shipped (tracking number and carrier) →
delivered, and cancelled (with a reason) from any step. A cancelled order takes comments
only. ``shopify_sync`` carries shipped (a fulfilment with the tracking info), paid
(``orderMarkAsPaid``), cancelled (``orderCancel``) and edits (``orderUpdate``: shipping
address and note) to an order that is in Shopify. The newest edit wins over the order's
own versions (``edited``), as the newest status does.

Idempotency: each rendering of an action's form carries a token (``manual.new_form_token``)
from which the action's id, version and event id derive, so a double tap is one action.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orderhub.event import Event, make_event, stable_id
from orderhub.sources import manual

SOURCE = "manual"  # the CRM app
PIPELINE = ("new", "confirmed", "packed", "shipped", "delivered")
STATUSES = (*PIPELINE, "cancelled")
LABELS = {
    "new": "New",
    "confirmed": "Confirmed",
    "packed": "Packed",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}
#: Shopify's ``OrderCancelReason`` values, in words for the manager.
CANCEL_REASONS = {
    "customer": "The customer asked",
    "inventory": "Out of stock",
    "declined": "Payment declined",
    "fraud": "Fraud",
    "staff": "Our mistake",
    "other": "Other",
}
#: Carriers offered in the form (Shopify recognises these names); anything else may be typed.
CARRIERS = ("CTT", "DHL Express", "UPS", "FedEx", "GLS", "DPD", "Nova Poshta", "Ukrposhta")
MAX_TEXT = 2000
#: An edit's shipping address: form field → (column, at most characters).
ADDRESS_FIELDS = {
    "ship_name": ("name", 120),
    "ship_address1": ("address1", 200),
    "ship_address2": ("address2", 200),
    "ship_city": ("city", 100),
    "ship_zip": ("zip", 20),
    "ship_country_code": ("country_code", 60),
    "ship_phone": ("phone", 40),
}
MAX_NOTE = 1000
_COUNTRY = re.compile(r"[A-Za-z]{2}")
MAX_TRACKING = 60
#: An action form older than this is refused (reload the page).
TOKEN_MAX_AGE = timedelta(days=2)
_TRACKING = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]*")
#: Fulfilment statuses (Shopify's ``fulfillment_status``) that mean "on its way".
SHIPPED_FULFILMENT = ("fulfilled", "shipped", "partial", "partially_fulfilled")


class Refused(ValueError):
    """The action cannot be taken (a message for the manager)."""


@dataclass(frozen=True)
class OrderKey:
    """The order acted on, as ``order_events`` keys it."""

    source: str
    shop: str
    order_id: str


@dataclass(frozen=True)
class Action:
    kind: str  # status | paid | comment | assign | edit
    status: str | None = None
    tracking_number: str | None = None
    tracking_company: str | None = None
    cancel_reason: str | None = None
    text: str | None = None
    #: With ``assign``: the manager's sign-in name (``None``: nobody) and display name.
    assignee: str | None = None
    assignee_name: str | None = None
    #: With ``edit``: the new shipping address (``None``: unchanged) and note (``""``: none).
    shipping_address: tuple[tuple[str, str | None], ...] | None = None
    note: str | None = None


def _clean(values: Mapping[str, Any], name: str, limit: int) -> str:
    text = str(values.get(name) or "").replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise Refused(f"At most {limit} characters, please")
    return text


def read_status(values: Mapping[str, Any]) -> Action:
    """The status change a form posted (``status``, ``tracking_number``,
    ``tracking_company``, ``cancel_reason``, ``text``), or ``Refused`` saying what is wrong."""
    status = str(values.get("status") or "")
    if status not in STATUSES:
        raise Refused("Choose a status: " + ", ".join(STATUSES))
    text = _clean(values, "text", MAX_TEXT) or None
    if status == "shipped":
        number = " ".join(_clean(values, "tracking_number", MAX_TRACKING).split())
        company = " ".join(_clean(values, "tracking_company", MAX_TRACKING).split())
        if number and not _TRACKING.fullmatch(number):
            raise Refused("A tracking number has letters, digits, spaces and - . / only")
        return Action("status", status, number or None, company or None, text=text)
    if status == "cancelled":
        reason = str(values.get("cancel_reason") or "")
        if reason not in CANCEL_REASONS:
            raise Refused("Say why the order is cancelled")
        return Action("status", status, cancel_reason=reason, text=text)
    return Action("status", status, text=text)


def read_comment(values: Mapping[str, Any]) -> Action:
    text = _clean(values, "text", MAX_TEXT)
    if not text:
        raise Refused("Write the comment first")
    return Action("comment", text=text)


def read_assign(values: Mapping[str, Any], managers: Mapping[str, str]) -> Action:
    """Assign the order to ``assignee`` (a sign-in name of ``managers``: id → display name),
    or to nobody when it is empty."""
    assignee = str(values.get("assignee") or "").strip()
    if not assignee:
        return Action("assign")
    if assignee not in managers:
        raise Refused("Choose a manager from the list")
    return Action("assign", assignee=assignee, assignee_name=managers[assignee])


def read_edit(values: Mapping[str, Any]) -> Action:
    """An edit of the shipping address (``ship_*`` fields; all empty: unchanged) and the
    note (empty: no note)."""
    address: dict[str, str | None] = {}
    for name, (column, limit) in ADDRESS_FIELDS.items():
        value = " ".join(_clean(values, name, limit).split())
        address[column] = value or None
    if address["country_code"]:
        if not _COUNTRY.fullmatch(address["country_code"]):
            raise Refused("The country is its two-letter code, e.g. PT or US")
        address["country_code"] = address["country_code"].upper()
    note = _clean(values, "note", MAX_NOTE)
    if not any(address.values()):
        return Action("edit", note=note)
    if not address["address1"]:
        raise Refused("Enter the street and number (address line 1)")
    return Action("edit", shipping_address=tuple(address.items()), note=note)


def check_allowed(action: Action, *, pipeline: str) -> None:
    """A cancelled order takes comments only (Shopify cannot undo a cancellation)."""
    if pipeline == "cancelled" and action.kind != "comment":
        raise Refused("This order is cancelled: it takes comments only")


def token_version(token: str) -> int | None:
    """The action's version: its form token's issue time, in ms (``None``: not a token)."""
    if manual.token_age(token, datetime.now(UTC)) is None:
        return None
    return int(token.partition("_")[0], 16) * 1000


def action_event(
    action: Action,
    *,
    order: OrderKey,
    manager: str,
    manager_name: str,
    token: str,
    at: datetime,
) -> Event:
    """The ``order.action`` event; the same token always gives the same event id."""
    version = token_version(token)
    if version is None:
        raise Refused("This form is not ours: reload the page")
    # One page carries one token for all its forms: the action's kind and content tell
    # two different actions from it apart, while a double tap stays one action.
    action_id = (
        "A-"
        + stable_id(
            SOURCE,
            order.source,
            order.shop,
            order.order_id,
            token,
            action.kind,
            action.status,
            action.tracking_number,
            action.cancel_reason,
            action.text,
            *((action.assignee or "",) if action.kind == "assign" else ()),
            *((repr(action.shipping_address), action.note or "") if action.kind == "edit" else ()),
        )[:20]
    )
    entity: dict[str, Any] = {
        "action_id": action_id,
        "order_id": order.order_id,
        "order_source": order.source,
        "kind": action.kind,
        "status": action.status,
        "tracking_number": action.tracking_number,
        "tracking_company": action.tracking_company,
        "cancel_reason": action.cancel_reason,
        "text": action.text,
        "manager": manager,
        "manager_name": manager_name,
    }
    if action.kind == "assign":
        entity |= {"assignee": action.assignee, "assignee_name": action.assignee_name}
    if action.kind == "edit":
        address = dict(action.shipping_address) if action.shipping_address else None
        entity |= {"shipping_address": address, "note": action.note or ""}
    return make_event(
        event_type="order.action",
        source=SOURCE,
        shop=order.shop,
        occurred_at=at,
        version=version,
        entity_id=action_id,
        entity=entity,
    )


# ------------------------------------------------------------------ reading them back
def pipeline_status(order: Mapping[str, Any], actions: Sequence[Mapping[str, Any]]) -> str:
    """Where the order is in the pipeline: cancelled if the order or a manager says so, else
    the newest status a manager set, else shipped when the source says it was fulfilled,
    else new. (``schemas/views/orders.sql`` says the same in SQL.)"""
    if order.get("cancelled_at"):
        return "cancelled"
    statuses = [a for a in actions if a.get("kind") == "status" and a.get("status")]
    if statuses:
        newest = max(statuses, key=lambda a: (a["occurred_at"], a.get("event_id") or ""))
        return str(newest["status"])
    if str(order.get("fulfillment_status") or "") in SHIPPED_FULFILMENT:
        return "shipped"
    return "new"


def assigned(actions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest assignment (``assignee`` ``None``: unassigned), or ``None`` if never."""
    found = [a for a in actions if a.get("kind") == "assign"]
    if not found:
        return None
    return max(found, key=lambda a: (a["occurred_at"], a.get("event_id") or ""))


def edited(order: Mapping[str, Any], actions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The order with managers' edits applied: the newest edit with an address gives the
    shipping address, the newest edit the note (``schemas/views/orders.sql`` does the same)."""
    edits = sorted(
        (a for a in actions if a.get("kind") == "edit"),
        key=lambda a: (a["occurred_at"], a.get("event_id") or ""),
    )
    shown = dict(order)
    if not edits:
        return shown
    with_address = [a for a in edits if a.get("shipping_address")]
    if with_address:
        shown["shipping_address"] = dict(with_address[-1]["shipping_address"])
    shown["note"] = edits[-1].get("note") or None
    return shown


def paid_by_manager(actions: Sequence[Mapping[str, Any]]) -> bool:
    return any(a.get("kind") == "paid" for a in actions)


def describe(action: Mapping[str, Any]) -> list[str]:
    """An action in the timeline's words."""
    kind = action.get("kind")
    if kind == "paid":
        return ["marked paid"]
    if kind == "comment":
        return ["comment: " + str(action.get("text") or "")]
    if kind == "assign":
        who = action.get("assignee_name") or action.get("assignee")
        return [f"assigned to {who}" if who else "unassigned"]
    if kind == "edit":
        said = []
        address = action.get("shipping_address")
        if address:
            parts = ("address1", "address2", "city", "zip", "country_code")
            said.append("address: " + ", ".join(str(address[k]) for k in parts if address.get(k)))
        if action.get("note"):
            said.append(f"note: {action['note']}")
        elif not address:
            said.append("note cleared")
        return ["edited", *said]
    status = str(action.get("status") or "")
    said = [LABELS.get(status, status).lower()]
    if status == "shipped":
        tracking = " ".join(
            str(action[k]) for k in ("tracking_company", "tracking_number") if action.get(k)
        )
        if tracking:
            said.append(tracking)
    if status == "cancelled" and action.get("cancel_reason"):
        said.append(CANCEL_REASONS.get(str(action["cancel_reason"]), "other").lower())
    if action.get("text"):
        said.append(str(action["text"]))
    return said
