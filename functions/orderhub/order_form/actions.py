"""A manager's actions on an order: the pipeline status, "paid", comments, assignment,
edits of the shipping address, note and items. No Flask here.

Each action is one canonical ``order.action`` event (entity ``order_action``, table
``order_actions``): who (``manager``), when (``occurred_at``) and what (``kind``:
``status``, ``paid``, ``comment``, ``assign`` or ``edit``, with the status, tracking number
and carrier, cancel reason, text, the manager the order is assigned to: ``assignee``,
``None`` to unassign, or an edit's ``shipping_address`` (``None``: unchanged) and ``note``
(``""``: cleared; ``None``: unchanged), or an edit of items: ``line_items`` as the manager
left them (quantity 0: removed) with the recomputed ``subtotal`` and ``total``). The event
names the order by its key (``order_source``, ``shop``, ``order_id``), so the order's own
versions (Shopify's webhooks among them) never overwrite what a manager did: the
``orders`` view and the order's page join the newest status.

The pipeline: new → confirmed → packed → shipped (tracking number and carrier) →
delivered, and cancelled (with a reason) from any step. A cancelled order takes comments
only. ``shopify_sync`` carries shipped (a fulfilment with the tracking info), paid
(``orderMarkAsPaid``), cancelled (``orderCancel``) and edits (``orderUpdate``: shipping
address and note; Shopify's order editing: items) to an order that is in Shopify. The
newest edit wins over the order's own versions (``edited``), as the newest status does.

Idempotency: each rendering of an action's form carries a token (``manual.new_form_token``)
from which the action's id, version and event id derive, so a double tap is one action.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol

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
#: An edit of items: at most this many of one item, and this many items added at once.
MAX_QUANTITY = 999
MAX_ADDED = 10
_QUANTITY = re.compile(r"[0-9]{1,3}")
CENT = Decimal("0.01")
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
class ItemLine:
    """One line of an edit of items (``quantity`` 0: removed; ``line_id`` ``None``: added)."""

    title: str
    quantity: int
    unit_price: Decimal
    line_id: str | None = None
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    variant_title: str | None = None
    total_discount: Decimal = Decimal("0")

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity - self.total_discount

    def as_entity(self, currency: str) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "product_id": self.product_id,
            "variant_id": self.variant_id,
            "sku": self.sku,
            "title": self.title,
            "variant_title": self.variant_title,
            "quantity": self.quantity,
            "unit_price": {"amount": format(self.unit_price, "f"), "currency": currency},
            "total_discount": {"amount": format(self.total_discount, "f"), "currency": currency},
        }


class CatalogueItem(Protocol):
    """A catalogue variant (``orderhub.order_form.catalogue.Product``)."""

    @property
    def product_id(self) -> str | None: ...
    @property
    def variant_id(self) -> str | None: ...
    @property
    def sku(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def variant_title(self) -> str | None: ...
    @property
    def price(self) -> str | None: ...


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
    #: With an edit of items: every line (quantity 0: removed) and the recomputed money.
    line_items: tuple[ItemLine, ...] | None = None
    subtotal: Decimal | None = None
    total: Decimal | None = None
    currency: str | None = None


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


def _money(value: Any) -> Decimal:
    """An amount (a Money mapping, a string, BigQuery's NUMERIC) in cents where it fits."""
    if isinstance(value, Mapping):
        value = value.get("amount")
    try:
        found = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        return Decimal("0")
    cents = found.quantize(CENT)
    return cents if cents == found else found.normalize()


def _quantity(values: Mapping[str, Any], name: str, title: str) -> int | None:
    """The whole number 0..999 typed in ``name`` (``None``: the field was not sent)."""
    if name not in values:
        return None
    text = str(values.get(name) or "").strip()
    if not _QUANTITY.fullmatch(text) or int(text) > MAX_QUANTITY:
        raise Refused(
            f"The quantity of {title} is a whole number from 0 to {MAX_QUANTITY} (0 removes it)"
        )
    return int(text)


def current_lines(order: Mapping[str, Any]) -> list[ItemLine]:
    """The order's lines as its page shows them (``edited``), as ``ItemLine``s."""
    lines = []
    for li in order.get("line_items") or []:
        if not li.get("title") or int(li.get("quantity") or 0) <= 0:
            continue
        lines.append(
            ItemLine(
                title=str(li["title"]),
                quantity=int(li["quantity"]),
                unit_price=_money(li.get("unit_price")),
                line_id=li.get("line_id") or None,
                product_id=li.get("product_id") or None,
                variant_id=li.get("variant_id") or None,
                sku=li.get("sku") or None,
                variant_title=li.get("variant_title") or None,
                total_discount=_money(li.get("total_discount")),
            )
        )
    return lines


def read_items(
    values: Mapping[str, Any],
    order: Mapping[str, Any],
    find_variant: Callable[[str], CatalogueItem | None],
) -> Action:
    """An edit of the order's items: ``qty-<n>`` the new quantity of the page's line ``n``
    (0 removes it), ``add-<n>-variant_id`` and ``add-<n>-quantity`` an item from the
    catalogue (``find_variant(variant_id)`` gives its title, SKU and price: the browser's
    price is never taken). The order's subtotal and total move by what the lines moved
    (shipping, tax and order discounts stay as they are)."""
    before = current_lines(order)
    after: list[ItemLine] = []
    for n, line in enumerate(before):
        quantity = _quantity(values, f"qty-{n}", line.title)
        if quantity is None or quantity == line.quantity:
            after.append(line)
            continue
        discount = Decimal("0")
        if line.total_discount:
            discount = (line.total_discount * quantity / line.quantity).quantize(
                CENT, ROUND_HALF_UP
            )
        after.append(
            ItemLine(**{**line.__dict__, "quantity": quantity, "total_discount": discount})
        )
    for n in range(MAX_ADDED):
        variant_id = str(values.get(f"add-{n}-variant_id") or "").strip()[:128]
        if not variant_id:
            continue
        item = find_variant(variant_id)
        if item is None or item.price is None:
            raise Refused("An added item is not in the catalogue (any more): search for it again")
        title = item.title
        quantity = _quantity(values, f"add-{n}-quantity", title)
        if quantity is None:
            quantity = 1
        if quantity == 0:
            continue
        same = [i for i, li in enumerate(after) if li.variant_id and li.variant_id == variant_id]
        if same:  # already on the order: more of it
            li = after[same[0]]
            more = li.quantity + quantity
            if more > MAX_QUANTITY:
                raise Refused(f"At most {MAX_QUANTITY} of {li.title}, please")
            after[same[0]] = ItemLine(**{**li.__dict__, "quantity": more})
            continue
        after.append(
            ItemLine(
                title=title,
                quantity=quantity,
                unit_price=_money(item.price),
                product_id=item.product_id,
                variant_id=item.variant_id,
                sku=item.sku,
                variant_title=item.variant_title,
            )
        )
    if not any(li.quantity for li in after):
        raise Refused("An order keeps at least one item: to drop them all, cancel the order")
    if after == before:
        raise Refused("Nothing changed: change a quantity or add an item first")
    moved = sum((li.amount for li in after), Decimal("0")) - sum(
        (li.amount for li in before), Decimal("0")
    )
    subtotal = _money(order.get("subtotal") or sum((li.amount for li in before), Decimal("0")))
    total = _money(order.get("total"))
    return Action(
        "edit",
        line_items=tuple(after),
        subtotal=subtotal + moved,
        total=total + moved,
        currency=str(order.get("currency") or "") or None,
    )


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
            *((repr(action.line_items),) if action.line_items is not None else ()),
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
    if action.kind == "edit" and action.line_items is not None:
        currency = action.currency or "XXX"
        entity |= {
            "line_items": [li.as_entity(currency) for li in action.line_items],
            "subtotal": {"amount": format(action.subtotal or 0, "f"), "currency": currency},
            "total": {"amount": format(action.total or 0, "f"), "currency": currency},
        }
    elif action.kind == "edit":
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


def is_items_edit(action: Mapping[str, Any]) -> bool:
    return action.get("kind") == "edit" and bool(action.get("line_items"))


def edited(order: Mapping[str, Any], actions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The order with managers' edits applied: the newest edit with an address gives the
    shipping address, the newest edit with a note the note, the newest edit of items the
    lines (those left at 0 dropped), subtotal and total (``schemas/views/orders.sql`` does
    the same)."""
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
    with_note = [a for a in edits if a.get("note") is not None and not is_items_edit(a)]
    if with_note:
        shown["note"] = with_note[-1].get("note") or None
    with_items = [a for a in edits if is_items_edit(a)]
    if with_items:
        newest = with_items[-1]
        shown["line_items"] = [
            dict(li) for li in newest["line_items"] if int(li.get("quantity") or 0) > 0
        ]
        for key in ("subtotal", "total"):
            if newest.get(key) is not None:
                shown[key] = str(_money(newest[key]))
        shown["items_edited_by"] = newest.get("manager_name") or newest.get("manager")
        shown["items_edited_at"] = newest.get("occurred_at")
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
    if is_items_edit(action):
        lines = [li for li in action.get("line_items") or [] if int(li.get("quantity") or 0)]
        said = ["items edited"]
        said += [f"{li.get('quantity')} × {li.get('title')}" for li in lines]
        if action.get("total") is not None:
            said.append(f"total {_money(action['total']):.2f}")
        return said
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
