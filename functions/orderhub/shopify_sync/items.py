"""A manager's edit of an order's items, carried to the order in Shopify through Shopify's
order editing (issue 22): ``orderEditBegin`` → ``orderEditSetQuantity`` for each line whose
quantity changed (the calculated line item's id from the begin answer) and
``orderEditAddVariant`` for each added item → ``orderEditCommit`` (the customer is not
notified; the staff note names the manager).

Exactly once: ``carry_action`` claims the action; and before beginning, the order's lines in
Shopify are compared with the wanted ones, so an edit whose commit answer was lost (the
delivery failed after Shopify applied it) is not made a second time.

What Shopify will not change is said in words: a line with no Shopify variant cannot be
added (we refuse rather than add a custom item, which would not move stock); a cancelled or
closed order; Shopify's own refusals (a fulfilled line below its fulfilled quantity, an
unknown variant, ...) as its ``userErrors`` say them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orderhub.shopify.writer import EditLine, Refused, ShopifyWriter, UserError


@dataclass(frozen=True)
class Wanted:
    """A line as the manager left it (``orderhub.order_form.actions.ItemLine``)."""

    title: str
    quantity: int
    line_id: str | None = None
    variant_id: str | None = None  # the CRM's: Shopify's legacy id for Shopify products
    sku: str | None = None


@dataclass(frozen=True)
class Changes:
    """What one edit asks of Shopify."""

    set_quantity: tuple[tuple[EditLine, int], ...] = ()
    add: tuple[Wanted, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set_quantity or self.add)


def wanted_lines(action: Mapping[str, Any]) -> list[Wanted]:
    return [
        Wanted(
            title=str(li.get("title") or ""),
            quantity=int(li.get("quantity") or 0),
            line_id=li.get("line_id") or None,
            variant_id=li.get("variant_id") or None,
            sku=li.get("sku") or None,
        )
        for li in action.get("line_items") or []
    ]


def _legacy(gid: str | None) -> str | None:
    return gid.rsplit("/", 1)[-1] if gid else None


def _same(key: str, wanted: Wanted, line: EditLine) -> bool:
    if key == "line":
        return wanted.line_id is not None and _legacy(line.id) == wanted.line_id
    if key == "variant":
        return wanted.variant_id is not None and _legacy(line.variant_id) == wanted.variant_id
    if key == "sku":
        return wanted.sku is not None and line.sku == wanted.sku
    return bool(wanted.title) and line.title == wanted.title


def match(wanted: Sequence[Wanted], current: Sequence[EditLine]) -> dict[int, EditLine]:
    """Each wanted line's line in Shopify (by index), strongest evidence first: the same line
    id (a Shopify order's lines keep Shopify's ids; a calculated line item has its line's
    number), then the same variant, the same SKU, the same title. Each Shopify line is taken
    once."""
    found: dict[int, EditLine] = {}
    taken: set[str] = set()
    for key in ("line", "variant", "sku", "title"):
        for n, line in enumerate(wanted):
            if n in found:
                continue
            for candidate in current:
                if candidate.id not in taken and _same(key, line, candidate):
                    found[n] = candidate
                    taken.add(candidate.id)
                    break
    return found


def changes(wanted: Sequence[Wanted], current: Sequence[EditLine]) -> Changes:
    """What differs between the wanted lines and Shopify's: quantities to set on lines
    Shopify has, items to add. Shopify lines the manager never saw are left alone."""
    matched = match(wanted, current)
    set_quantity = []
    add = []
    for n, line in enumerate(wanted):
        there = matched.get(n)
        if there is None:
            if line.quantity > 0:
                add.append(line)
        elif there.quantity != line.quantity:
            set_quantity.append((there, line.quantity))
    return Changes(tuple(set_quantity), tuple(add))


def write_items(
    writer: ShopifyWriter, order_id: str, action: Mapping[str, Any]
) -> tuple[str, str | None]:
    """Carry the edit; (the reason in words, what was written or ``None``)."""
    wanted = wanted_lines(action)
    read = writer.order_lines(order_id)
    if read is None:
        raise Refused("order editing", [UserError("the order is not found in Shopify")])
    why_not, lines = read
    if not changes(wanted, lines):
        return "Shopify already has these items", "already"
    if why_not:
        raise Refused("order editing", [UserError(f"{why_not}: its items cannot be edited")])
    missing = [w for w in changes(wanted, lines).add if not w.sku]
    if missing:
        raise Refused("order editing", [_no_variant(missing[0])])
    skus = [w.sku for w in changes(wanted, lines).add if w.sku]
    variants = writer.variants_by_sku(skus)
    for w in changes(wanted, lines).add:
        if w.sku not in variants:
            raise Refused("order editing", [_no_variant(w)])
    calculated, calc_lines = writer.order_edit_begin(order_id)
    todo = changes(wanted, calc_lines)
    if not todo:  # changed meanwhile to what is wanted: nothing to commit
        return "Shopify already has these items", "already"
    for line, quantity in todo.set_quantity:
        writer.order_edit_set_quantity(calculated, line.id, quantity)
    for w in todo.add:
        writer.order_edit_add_variant(calculated, variants[str(w.sku)], w.quantity)
    who = action.get("manager_name") or action.get("manager") or "a manager"
    writer.order_edit_commit(calculated, staff_note=f"Items edited in the CRM by {who}")
    said = [f"{q} × {line.title}" for line, q in todo.set_quantity]
    said += [f"added {w.quantity} × {w.title}" for w in todo.add]
    return "items changed in Shopify: " + ", ".join(said), "items"


def _no_variant(line: Wanted) -> UserError:
    sku = f" (SKU {line.sku})" if line.sku else ""
    return UserError(
        f"{line.title}{sku} is not a product variant in Shopify: add it there, or leave it out"
    )
