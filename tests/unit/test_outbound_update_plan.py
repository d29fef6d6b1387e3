"""What a CRM edit of an order already in Shopify sends (``plan.order_update_input``):
only what differs from what Shopify holds; "paid" through orderMarkAsPaid, nothing else."""

from __future__ import annotations

from typing import Any

from orderhub.event import Event
from orderhub.shopify.writer import ShopifyOrder
from orderhub.shopify_sync.plan import order_update_input

OURS = ("orderhub", "orderhub-source:manual", "manager:maria", "vip")


def edit(**entity: Any) -> Event:
    base = {"order_id": "M-1", "note": "ring twice", "tags": ["vip"], "manager": "maria"}
    return {  # type: ignore[typeddict-item]
        "event_type": "order.updated",
        "source": "manual",
        "shop": "s.myshopify.com",
        "entity": {**base, "financial_status": "pending", **entity},
    }


def held(**fields: Any) -> ShopifyOrder:
    values: dict[str, Any] = {
        "note": "ring twice",
        "tags": tuple(reversed(OURS)),
        "financial_status": "PENDING",
    }
    return ShopifyOrder("gid://shopify/Order/1", "#1", **{**values, **fields})


def test_what_shopify_already_holds_is_not_sent_whatever_the_tag_order() -> None:
    assert order_update_input(edit(), held()).changes_nothing


def test_note_and_tags_are_sent_whole_with_our_markers() -> None:
    update = order_update_input(edit(note="leave at the door", tags=["vip", "gift"]), held())
    assert update.fields["note"] == "leave at the door"
    assert set(update.fields["tags"]) == {*OURS, "gift"}
    assert not update.mark_paid
    cleared = order_update_input(edit(note=None), held())
    assert cleared.fields == {"note": ""}


def test_paid_is_marked_once_and_other_statuses_stay_in_the_crm() -> None:
    assert order_update_input(edit(financial_status="paid"), held()).mark_paid
    assert order_update_input(
        edit(financial_status="paid"), held(financial_status="PAID")
    ).changes_nothing
    refunded = order_update_input(edit(financial_status="refunded"), held())
    assert refunded.changes_nothing
    assert refunded.notes == (
        "financial status refunded kept in the CRM only (Shopify takes only 'paid' from an edit)",
    )
