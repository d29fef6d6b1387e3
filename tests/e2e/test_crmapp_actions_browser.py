"""Issue 22, "done when": a manager confirms, comments on and ships an order from the phone
(headless Chromium at 390 px, screenshots in test-output/crmapp-actions-*.png), in the
running stack with the two-way sync on. The timeline and the ``orders`` view show each
step and who took it; the Shopify stand-in holds one fulfilment with the tracking number;
each manager was told of the order once, the echoes of Shopify's webhooks included."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from tests.conftest import Crm
from tests.e2e.conftest import signed_in
from tests.e2e.test_crmapp_browser import shot, sign_in
from tests.e2e.test_order_form_browser import page  # noqa: F401 (the fixture)
from tests.e2e.test_order_form_stack import new_order, order_number
from tests.e2e.test_sync_stack import joined, stays, sync_on, writes  # noqa: F401
from tests.manychat import StandIn

pytestmark = pytest.mark.browser
TRACKING = f"RR{random.randint(10**8, 10**9 - 1)}PT"


def until_step(page: Any, text: str, timeout: float = 30.0) -> None:  # noqa: F811
    """Reload the order's page until its timeline shows ``text`` (crm_writer is async)."""
    deadline = time.monotonic() + timeout
    while not page.locator("#timeline li", has_text=text).count():
        if time.monotonic() > deadline:
            raise AssertionError(f"the timeline never showed {text!r}")
        time.sleep(0.5)
        page.reload()


def form_order_in_shopify(stack: dict[str, str], stack_crm: Crm, shop: str) -> str:
    """An order saved in the app's form, synced to Shopify, with Shopify's echo back: its
    number."""
    url = stack["CRM_APP_URL"]
    session, _ = signed_in(stack)
    saved = session.post(
        url + "/",
        data=new_order(session, url, phone=f"+1 201 555 01{random.randint(10, 99)}"),
        timeout=10,
    )
    assert saved.status_code == 201
    number = order_number(saved.text)
    joined(stack_crm, shop, number)  # in Shopify, and Shopify's echo has come back
    return number


def test_a_manager_confirms_comments_on_and_ships_an_order_from_the_phone(
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
    assert page.text_content("#pipeline-status") == "New"
    shot(page, "actions-new")

    page.click("#to-confirmed")
    page.wait_for_selector("#action-done")
    until_step(page, "confirmed")
    shot(page, "actions-confirmed")

    page.fill("#comment", "Customer asks to call before delivery")
    page.click("#add-comment")
    until_step(page, "comment: Customer asks to call before delivery")

    page.click("#ship summary")
    page.fill("#tracking_number", TRACKING)
    page.fill("#tracking_company", "CTT")
    shot(page, "actions-ship-form")
    page.click("#ship-it")
    until_step(page, f"CTT {TRACKING}")
    assert page.text_content("#pipeline-status") == "Shipped"
    steps = page.locator("#timeline li").all_text_contents()
    who = stack["ORDER_FORM_DEMO_MANAGER"]
    name = (page.text_content("header .who") or "").strip()  # the manager's display name
    for step in ("confirmed", "comment: Customer asks", f"shipped, CTT {TRACKING}"):
        assert any(s.strip().startswith(step) and f"by {name}" in s for s in steps), (step, steps)
    shot(page, "actions-shipped")

    (row,) = stack_crm.query(
        "SELECT pipeline_status, pipeline_by, tracking_number, tracking_company"
        " FROM {ds}.orders WHERE order_id = @id",
        id=number,
    )
    assert row == {
        "pipeline_status": "shipped",
        "pipeline_by": who,
        "tracking_number": TRACKING,
        "tracking_company": "CTT",
    }

    def fulfilments() -> list[dict[str, Any]]:
        return [
            f
            for f in writes(stack)["fulfillments"]
            if f["trackingInfo"] == [{"number": TRACKING, "company": "CTT"}]
        ]

    deadline = time.monotonic() + 30
    while not fulfilments() and time.monotonic() < deadline:
        time.sleep(0.5)
    [fulfilment] = fulfilments()
    [created] = [o for o in writes(stack)["orders"] if o["source_identifier"].endswith(number)]
    assert fulfilment["orderId"] == created["admin_graphql_api_id"]
    assert created["fulfillment_status"] == "fulfilled"

    manychat = StandIn(stack["MANYCHAT_API_URL"])

    def told_at_most_once() -> bool:
        return all(
            len([c for c in manychat.delivered(m) if number in str(c["body"])]) <= 1
            for m in stack_managers
        )

    assert stays(told_at_most_once, seconds=5.0)  # Shopify's orders/fulfilled echo included
    page.goto(f"{url}/orders?q={number}")
    assert "shipped" in (page.text_content("#order-list a.row .stage-chip") or "")
    shot(page, "actions-list")
