"""An edit of items, as pure code (issue 22): the CRM reads the form into lines and a total
(``actions.read_items``), and ``shopify_sync.items`` works out what Shopify must change."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orderhub.order_form import actions
from orderhub.order_form.catalogue import Product
from orderhub.shopify.writer import EditLine
from orderhub.shopify_sync import items

ORDER: dict[str, Any] = {
    "currency": "EUR",
    "subtotal": "25.00",
    "total": "29.00",  # 4.00 delivery
    "line_items": [
        {
            "line_id": "11",
            "title": "Mug",
            "sku": "MUG-1",
            "quantity": 2,
            "unit_price": "11.50",
            "total_discount": "1.00",
        },
        {
            "line_id": "12",
            "title": "Gift wrap",
            "sku": "WRAP",
            "quantity": 1,
            "unit_price": Decimal("2.000000000"),
        },
    ],
}
TOWEL = Product("7002", "8002", "TOWEL-1", "Tea towel", None, "6.50")


def test_quantities_and_a_catalogue_item_move_the_total_by_what_the_lines_moved() -> None:
    read = actions.read_items(
        {
            "qty-0": "4",
            "qty-1": "0",
            "add-0-variant_id": "8002",
            "add-0-quantity": "1",
            "add-0-price": "0.01",
        },
        ORDER,
        lambda v: TOWEL if v == "8002" else None,
    )
    assert [
        (li.title, li.quantity, li.unit_price, li.total_discount) for li in read.line_items or ()
    ] == [
        ("Mug", 4, Decimal("11.50"), Decimal("2.00")),  # the line's discount scales
        ("Gift wrap", 0, Decimal("2.00"), Decimal("0")),
        ("Tea towel", 1, Decimal("6.50"), Decimal("0")),  # the catalogue's price
    ]
    # lines 22.00 + 2.00 = 24.00 before; 44.00 + 0 + 6.50 = 50.50 after: +26.50
    assert (read.subtotal, read.total) == (Decimal("51.50"), Decimal("55.50"))


@pytest.mark.parametrize(
    "values,words",
    [
        ({"qty-0": "2.5"}, "whole number from 0 to 999"),
        ({"qty-0": "1000"}, "whole number from 0 to 999"),
        ({"qty-0": " -1"}, "whole number from 0 to 999"),
        ({"qty-0": "0", "qty-1": "0"}, "keeps at least one item"),
        ({"qty-0": "2"}, "Nothing changed"),
        ({"add-0-variant_id": "404"}, "not in the catalogue"),
    ],
)
def test_bad_input_is_refused_in_words(values: dict[str, str], words: str) -> None:
    with pytest.raises(actions.Refused, match=words):
        actions.read_items(values, ORDER, lambda _v: None)


def test_an_edit_of_items_on_a_page_and_in_the_timeline() -> None:
    action = {
        "kind": "edit",
        "occurred_at": "2026-12-07T10:00:00Z",
        "manager": "anna",
        "manager_name": "Anna K",
        "line_items": [
            {"title": "Mug", "quantity": 3, "unit_price": "11.50"},
            {"title": "Gift wrap", "quantity": 0, "unit_price": "2.00"},
        ],
        "subtotal": "34.50",
        "total": "38.50",
        "note": None,
    }
    note = {"kind": "edit", "occurred_at": "2026-12-07T09:00:00Z", "note": "call first"}
    shown = actions.edited({**ORDER, "note": "x"}, [note, action])
    assert [li["title"] for li in shown["line_items"]] == ["Mug"]  # removed lines go
    assert (shown["total"], shown["note"], shown["items_edited_by"]) == (
        "38.50",
        "call first",  # an edit of items leaves the note as the last note edit left it
        "Anna K",
    )
    assert actions.describe(action) == ["items edited", "3 × Mug", "total 38.50"]


def test_shopify_gets_only_what_differs_and_lines_nobody_saw_are_left_alone() -> None:
    wanted = [
        items.Wanted("Mug", 3, line_id="5001"),
        items.Wanted("Gift wrap", 0, sku="WRAP"),
        items.Wanted("Tea towel", 2, variant_id="8002", sku="TOWEL-1"),
        items.Wanted("Candle", 1, sku="CANDLE"),
    ]
    current = [
        EditLine("gid://shopify/CalculatedLineItem/5001", "Mug", 2, sku="MUG-1"),
        EditLine("gid://shopify/CalculatedLineItem/5002", "Gift wrap", 1, sku="WRAP"),
        EditLine("gid://shopify/CalculatedLineItem/5003", "Added in Shopify", 1, sku="X"),
        EditLine(
            "gid://shopify/CalculatedLineItem/5004",
            "Towel",
            2,
            variant_id="gid://shopify/ProductVariant/8002",
        ),
    ]
    todo = items.changes(wanted, current)
    assert [(line.title, q) for line, q in todo.set_quantity] == [("Mug", 3), ("Gift wrap", 0)]
    assert [w.title for w in todo.add] == ["Candle"]
    done = [
        EditLine("a", "Mug", 3, sku="MUG-1"),
        EditLine("b", "Gift wrap", 0, sku="WRAP"),
        EditLine("c", "Tea towel", 2, sku="TOWEL-1"),
        EditLine("d", "Candle", 1, sku="CANDLE"),
    ]
    assert not items.changes([items.Wanted(w.title, w.quantity, sku=w.sku) for w in wanted], done)
