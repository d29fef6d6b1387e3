"""Issue 22 item 1, on the phone (headless Chromium at 390 px, screenshots in
test-output/crmapp-edit-*.png), in the running stack with the two-way sync on: a manager
edits an order's address and note (the timeline says who; the Shopify stand-in's order
gets the new address and note through ``orderUpdate``; no manager is told twice), then
duplicates the order (the form holds its items; Save makes a new order), then edits the
order's items (one more gift wrap, the new total shown before Save; the stand-in's order
gets the quantity through Shopify's order editing)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Crm
from tests.e2e.test_crmapp_a11y_browser import serious
from tests.e2e.test_crmapp_actions_browser import form_order_in_shopify, until_step
from tests.e2e.test_crmapp_browser import shot, sign_in
from tests.e2e.test_order_form_browser import page  # noqa: F401 (the fixture)
from tests.e2e.test_sync_stack import joined, stays, sync_on, writes  # noqa: F401
from tests.manychat import StandIn

pytestmark = pytest.mark.browser


def test_a_manager_edits_the_address_and_note_then_duplicates_the_order_from_the_phone(
    page: Any,  # noqa: F811
    stack: dict[str, str],
    stack_crm: Crm,
    stack_managers: list[str],
    sync_on: str,  # noqa: F811
) -> None:
    url = stack["CRM_APP_URL"]
    number = form_order_in_shopify(stack, stack_crm, sync_on)

    sign_in(page, stack)
    page.goto(f"{url}/orders/{number}")
    page.click("#edit summary")
    page.fill("#ship_address1", "Rua Augusta 10")
    page.fill("#ship_city", "Lisboa")
    page.fill("#ship_zip", "1100-048")
    page.fill("#ship_country_code", "PT")
    page.fill("#edit_note", "Leave at the door")
    shot(page, "edit-form")
    page.click("#save-edit")
    page.wait_for_selector("#action-done")
    until_step(page, "address: Rua Augusta 10")
    name = (page.text_content("header .who") or "").strip()
    steps = page.locator("#timeline li").all_text_contents()
    assert any("edited" in s and f"by {name}" in s for s in steps), steps
    assert "Note: Leave at the door" in (page.text_content("main") or "")
    shot(page, "edit-done")

    def in_shopify() -> dict[str, Any] | None:
        for order in writes(stack)["orders"]:
            if order["source_identifier"].endswith(number) and order.get("note") == (
                "Leave at the door"
            ):
                return dict(order)
        return None

    deadline = time.monotonic() + 30
    while in_shopify() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    shopify_order = in_shopify()
    assert shopify_order is not None, "the edit never reached Shopify"
    assert shopify_order["shipping_address"]["address1"] == "Rua Augusta 10"

    manychat = StandIn(stack["MANYCHAT_API_URL"])

    def told_at_most_once() -> bool:
        return all(
            len([c for c in manychat.delivered(m) if number in str(c["body"])]) <= 1
            for m in stack_managers
        )

    assert stays(told_at_most_once, seconds=5.0)  # Shopify's orders/updated echo included
    page.reload()  # the page's Shopify card says what Shopify did with the edit
    assert "shipping address and note changed in Shopify" in (page.text_content("main") or "")

    page.click("#duplicate-order")
    page.wait_for_selector("#copy-of")
    assert page.input_value("input[name='lines-0-title']") == "Gift wrap"
    assert page.input_value("input[name='lines-0-quantity']") == "2"
    assert "Rua Augusta 10" in page.input_value("#address")
    shot(page, "edit-duplicate")
    page.click("#order-form button[value=order]")
    page.wait_for_selector("#order-number")
    copy = (page.text_content("#order-number") or "").strip()
    assert copy and copy != number
    shot(page, "edit-duplicate-saved")

    # Edit items on the phone: one more gift wrap (2 → 3 at 3.50), the total moves before Save.
    page.goto(f"{url}/orders/{number}")
    page.click("#edit-items summary")
    before = float(page.text_content("#items-total") or "0")
    plus = page.locator("#items-form [data-item]").first.locator("[data-step='1']")
    box = plus.bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44  # a tap target
    plus.click()
    assert page.input_value("#qty-0") == "3"
    assert float(page.text_content("#items-total") or "0") == pytest.approx(before + 3.5)
    assert serious(page) == []  # axe-core, with the items form open
    shot(page, "edit-items")
    saved_at = time.monotonic()
    page.click("#save-items")
    page.wait_for_selector("#action-done")
    until_step(page, "items edited")

    def gift_wraps() -> int | None:
        for order in writes(stack)["orders"]:
            if order["source_identifier"].endswith(number):
                line = order["line_items"][0]
                return int(line.get("current_quantity", line["quantity"]))
        return None

    deadline = time.monotonic() + 30
    while gift_wraps() != 3 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert gift_wraps() == 3, "the edit of items never reached Shopify"
    assert stays(told_at_most_once, seconds=2.0)  # the commit's orders/updated echo included
    print(f"edit of items: Save -> Shopify's order {time.monotonic() - saved_at:.2f} s")
