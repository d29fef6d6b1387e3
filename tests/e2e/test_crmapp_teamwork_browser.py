"""Issue 22, working together, from the phone (Chromium at 390 px, screenshots in
test-output/crmapp-team-*.png): a manager assigns an order to herself and finds it in "My
orders"; the list shows the saved views and a header per day with its count and revenue;
tabs and the header's buttons are at least 44 px; at 200 % text "Sign out" stays on screen;
at 1,024 px the list is a table; axe-core finds no critical or serious violation; "Sign out
everywhere" ends the session."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from tests.conftest import Crm
from tests.e2e.test_crmapp_a11y_browser import serious
from tests.e2e.test_crmapp_actions_browser import until_step
from tests.e2e.test_crmapp_browser import OUTPUT, send_order, shot, sign_in
from tests.e2e.test_order_form_browser import page  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser


def test_a_manager_takes_an_order_and_finds_it_in_her_orders(
    page: Any,  # noqa: F811
    stack: dict[str, str],
    stack_crm: Crm,
) -> None:
    url = stack["CRM_APP_URL"]
    last = random.randint(1000, 9999)
    order_id = send_order(stack, stack_crm, f"+1 201 555 {last}")
    sign_in(page, stack)
    me = stack["ORDER_FORM_DEMO_MANAGER"]

    page.goto(f"{url}/orders/{order_id}")
    page.select_option("#assignee", me)
    shot(page, "team-assign")
    page.click("#assign-it")
    page.wait_for_selector("#action-done")
    until_step(page, "assigned to")
    assert "(me)" in (page.text_content("#assignee option[selected]") or "")
    assert serious(page) == []

    # A comment on the customer, shown on their page with who wrote it.
    page.goto(f"{url}/customers/p1201555{last}")
    page.fill("#customer-comment", "Prefers a call after 18:00")
    page.click("#add-customer-comment")
    deadline = time.monotonic() + 30
    while not page.locator("#customer-comments li", has_text="Prefers a call").count():
        assert time.monotonic() < deadline, "the comment never showed"
        time.sleep(0.5)
        page.reload()
    assert serious(page) == []
    shot(page, "team-customer-comment")

    page.goto(url + "/orders")
    chips = page.locator("#view-chips a").all_text_contents()
    assert chips == ["Unpaid", "Ship today", "Needs a call", "My orders"]
    head = page.locator("#order-list li.day").first
    assert "order" in (head.locator(".day-count").text_content() or "")
    assert (head.locator(".day-revenue").text_content() or "").strip()
    shot(page, "team-days")
    page.click("#view-chips a[data-view='mine']")
    page.wait_for_selector("#view-chips a[data-view='mine'][aria-current]")
    hrefs = page.locator("#order-list a.row").evaluate_all("(as) => as.map(a => a.pathname)")
    assert f"/orders/{order_id}" in hrefs
    assert serious(page) == []
    shot(page, "team-my-orders")

    # Tap targets: every tab and the header's buttons are at least 44 px high.
    for selector in (".tabs a", "#signout", "#signout-everywhere", "#view-chips a"):
        heights = page.locator(selector).evaluate_all(
            "(els) => els.map(e => e.getBoundingClientRect().height)"
        )
        assert heights and min(heights) >= 44, (selector, heights)

    # At 200 % text the header wraps and "Sign out" stays on screen.
    page.evaluate("document.documentElement.style.fontSize = '34px'")
    box = page.locator("#signout").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.screenshot(path=str(OUTPUT / "crmapp-team-200-percent.png"), scale="css")
    page.evaluate("document.documentElement.style.fontSize = ''")

    # At 1,024 px the list is a table: one line per order, in columns.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(url + "/orders")
    row = page.locator("#order-list a.row").first
    columns = row.evaluate("(a) => getComputedStyle(a).gridTemplateColumns.split(' ').length")
    assert columns == 4
    boxes = row.locator(":scope > span:not([class*='sync-'])").evaluate_all(  # sync: 2nd line
        "(spans) => spans.map(s => [s.offsetTop, s.offsetTop + s.offsetHeight])"
    )
    assert max(b[0] for b in boxes) < min(b[1] for b in boxes), boxes  # side by side
    assert page.locator(".cols-head").is_visible()
    page.screenshot(path=str(OUTPUT / "crmapp-team-wide.png"), scale="css")
    page.set_viewport_size({"width": 390, "height": 844})

    page.click("#signout-everywhere")
    page.wait_for_url("**/signin")
    page.goto(url + "/orders")
    assert page.url.endswith("/signin")
