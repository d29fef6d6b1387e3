"""Issue 22, edit items: a manager's edit of an order's items reaches the order in Shopify
(on the emulators, against the Shopify stand-in) through Shopify's order editing, once,
however often it is delivered, and not twice when the commit's answer was lost; Shopify's
refusals are said in words; the ``orders/updated`` echo writes nothing back."""

from __future__ import annotations

from typing import Any

import pytest

from orderhub.errors import TransientError
from orderhub.order_form import actions
from orderhub.order_form.catalogue import Product
from orderhub.shopify_sync import sync
from tests.integration.test_shopify_sync import SHOP, Env, env, form_order
from tests.integration.test_shopify_sync_actions import action
from tests.integration.test_shopify_sync_edits import echo

__all__ = ["env"]  # the fixture, shared with test_shopify_sync

TOWEL = Product("7002", "8002", "TOWEL-1", "Tea towel", None, "6.50")
NOT_IN_SHOPIFY = Product("crm-1", "1", "NOPE-1", "Linen apron", None, "24.00")


def items_edit(created: Any, values: dict[str, str], *, add: Product | None = None) -> Any:
    """The ``order.action`` the CRM app publishes for an edit of ``created``'s items."""
    if add is not None:
        values = {**values, "add-0-variant_id": str(add.variant_id), "add-0-quantity": "2"}
    read = actions.read_items(values, created["entity"], lambda _v: add)
    return action(
        created,
        kind="edit",
        line_items=read.line_items,
        subtotal=read.subtotal,
        total=read.total,
        currency=read.currency,
    )


def seed_towel(env: Env) -> None:
    env.standins[SHOP].shop.put_product(
        {
            "id": 7002,
            "title": "Tea towel",
            "updated_at": "2026-11-01T00:00:00Z",
            "variants": [{"id": 8002, "sku": "TOWEL-1", "price": "6.50"}],
        }
    )


def lines(order: dict[str, Any]) -> list[tuple[str, int]]:
    return [(li["title"], li.get("current_quantity", li["quantity"])) for li in order["line_items"]]


def test_an_edit_of_items_reaches_the_shopify_order_once_through_order_editing(
    env: Env,
) -> None:
    seed_towel(env)
    created = form_order()  # 2 x Ceramic mug (MUG-1, a Shopify variant), 1 x Gift wrap
    assert env.post(created) == 200
    [order] = env.orders()
    writes = env.standins[SHOP].writes

    edit = items_edit(created, {"qty-0": "3", "qty-1": "0"}, add=TOWEL)
    assert env.post(edit) == 200
    assert env.post(edit) == 200  # redelivered: one edit
    assert (writes.counts["orderEditBegin"], writes.counts["orderEditCommit"]) == (1, 1)
    assert writes.counts["orderEditSetQuantity"] == 2
    assert writes.counts["orderEditAddVariant"] == 1
    assert lines(order) == [("Ceramic mug", 3), ("Gift wrap", 0), ("Tea towel", 2)]
    [commit] = writes.order_edits.commits
    assert commit["notify_customer"] is False
    assert commit["staff_note"] == "Items edited in the CRM by Maria"
    status = env.status(created["entity_id"], entity="order_items")
    assert status["status"] == "synced"
    assert status["reason"] == (
        "items changed in Shopify: 3 × Ceramic mug, 0 × Gift wrap, added 2 × Tea towel"
    )

    # Shopify's orders/updated for the commit comes back as the order's own version: the
    # sync writes nothing back.
    assert env.post(echo(order)) == 200
    assert writes.counts["orderEditBegin"] == 1
    assert "orderUpdate" not in writes.counts


def test_a_lost_commit_answer_does_not_edit_the_order_twice(env: Env) -> None:
    created = form_order()
    assert env.post(created) == 200
    [order] = env.orders()
    writes = env.standins[SHOP].writes
    writes.faults["orderEditCommit"] = ["slow:1.5"]
    edit = items_edit(created, {"qty-0": "5"})
    with pytest.raises(TransientError):
        sync.handle(edit, env.deps(timeout=0.5))  # committed in Shopify; the answer was lost
    assert lines(order)[0] == ("Ceramic mug", 5)
    sync.handle(edit, env.deps())  # redelivered: Shopify's lines already are the wanted ones
    assert (writes.counts["orderEditBegin"], writes.counts["orderEditCommit"]) == (1, 1)
    status = env.status(created["entity_id"], entity="order_items")
    assert status["status"] == "synced" and status["reason"] == "Shopify already has these items"


def test_what_shopify_will_not_change_is_said_in_words(env: Env) -> None:
    created = form_order()
    assert env.post(created) == 200
    writes = env.standins[SHOP].writes
    shipped = action(created, status="shipped", tracking_number="RR1PT", tracking_company="CTT")
    assert env.post(shipped) == 200

    fewer = items_edit(created, {"qty-0": "1"})  # both mugs were fulfilled
    env.post(fewer)
    status = env.status(created["entity_id"], entity="order_items")
    assert status["status"] == "failed"
    assert (
        "Cannot reduce the quantity of Ceramic mug below its fulfilled quantity (2)"
        in (status["reason"])
    )
    assert "orderEditCommit" not in writes.counts

    unknown = items_edit(created, {}, add=NOT_IN_SHOPIFY)
    env.post(unknown)
    status = env.status(created["entity_id"], entity="order_items")
    assert status["status"] == "failed"
    assert "Linen apron (SKU NOPE-1) is not a product variant in Shopify" in status["reason"]
    assert writes.counts["orderEditBegin"] == 1  # nothing begun for an item Shopify lacks


def test_with_the_switch_off_nothing_is_sent(env: Env) -> None:
    env.switches(SHOP, **{"outbound.orders": "off"})
    created = form_order()
    assert env.post(created) == 200
    assert env.post(items_edit(created, {"qty-0": "3"})) == 200
    assert "orderEditBegin" not in env.standins[SHOP].writes.counts
    assert "switched off" in env.status(created["entity_id"], entity="order_items")["reason"]
