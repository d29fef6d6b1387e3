"""Issue 22 item 1: an edit of an order's address and note, read from the form, shown over
the order's versions (newest wins), and the prefill of "Duplicate"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orderhub.order_form import actions
from orderhub.order_form.order_edits import address_text, prefill
from orderhub.shopify_sync import plan

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_an_edit_reads_the_address_and_note_and_refuses_what_shopify_would_not_take() -> None:
    edit = actions.read_edit(
        {"ship_address1": "  Rua  Augusta 10 ", "ship_country_code": "pt", "note": "door"}
    )
    address = dict(edit.shipping_address or ())
    assert address["address1"] == "Rua Augusta 10" and address["country_code"] == "PT"
    assert edit.note == "door"
    assert actions.read_edit({"note": ""}).shipping_address is None  # address unchanged
    with pytest.raises(actions.Refused, match="street and number"):
        actions.read_edit({"ship_city": "Porto"})
    with pytest.raises(actions.Refused, match="two-letter code"):
        actions.read_edit({"ship_address1": "Rua 1", "ship_country_code": "Portugal"})
    with pytest.raises(actions.Refused, match="At most 1000"):
        actions.read_edit({"note": "x" * 1001})
    with pytest.raises(actions.Refused, match="comments only"):
        actions.check_allowed(edit, pipeline="cancelled")


def test_the_newest_edit_wins_and_an_edit_without_address_keeps_the_last_one() -> None:
    order = {"shipping_address": {"address1": "Old St 1"}, "note": "ring twice"}
    first = {
        "kind": "edit",
        "occurred_at": AT,
        "shipping_address": {"address1": "New St 2", "city": "Lisboa"},
        "note": "door",
    }
    second = {"kind": "edit", "occurred_at": AT + timedelta(minutes=1), "note": ""}
    assert actions.edited(order, []) == order
    shown = actions.edited(order, [second, first])
    assert shown["shipping_address"] == {"address1": "New St 2", "city": "Lisboa"}
    assert shown["note"] is None
    assert actions.describe(first) == ["edited", "address: New St 2, Lisboa", "note: door"]
    assert actions.describe(second) == ["edited", "note cleared"]
    assert plan.action_write(first) == "edit"
    assert plan.edit_input(second) == {"note": ""}


def test_duplicate_prefills_customer_address_delivery_and_items() -> None:
    order = {
        "customer": {"name": "Ana", "phone": "+351912345678", "email": "ana@example.com"},
        "shipping_address": {"address1": "Rua Augusta 10", "city": "Lisboa", "zip": "1100"},
        "tags": ["delivery:courier", "channel:instagram"],
        "attribution": {"channel": "instagram"},
        "note": "not copied",
        "line_items": [
            {"title": "Mug", "sku": "MUG-1", "quantity": 2, "unit_price": Decimal("11.50")},
            {"title": None, "quantity": 1},
        ],
    }
    form = prefill(order, delivery_methods=("courier", "pickup"))
    assert form.fields["address"] == "Rua Augusta 10, Lisboa, 1100"
    assert form.fields["delivery_method"] == "courier" and form.fields["channel"] == "instagram"
    assert form.fields["note"] == ""
    assert form.lines == [
        {
            "title": "Mug",
            "sku": "MUG-1",
            "variant_id": "",
            "product_id": "",
            "variant_title": "",
            "quantity": "2",
            "price": "11.5",
        }
    ]
    assert prefill(order, delivery_methods=("pickup",)).fields["delivery_method"] == ""
    assert address_text(None) == ""
