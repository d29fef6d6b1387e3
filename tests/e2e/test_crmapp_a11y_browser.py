"""Issue 22: axe-core (bundled by axe-playwright-python) finds no critical or serious
violation on the pages a manager works in: the orders list, an order's page with its
actions and contact buttons, the customer, and the order form (Chromium at 390 px)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.conftest import Crm
from tests.e2e.test_crmapp_browser import send_order, sign_in
from tests.e2e.test_order_form_browser import page  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser


def serious(page: Any) -> list[str]:  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("critical", "serious")
    ]


def test_the_pages_a_manager_works_in_have_no_serious_accessibility_violation(
    page: Any,  # noqa: F811
    stack: dict[str, str],
    stack_crm: Crm,
) -> None:
    local = f"201555{random.randint(1000, 9999)}"
    order_id = send_order(stack, stack_crm, "+1" + local)
    sign_in(page, stack)
    url = stack["CRM_APP_URL"]
    found: dict[str, list[str]] = {}
    for path in ("/orders", f"/orders/{order_id}", f"/customers/p1{local}", "/"):
        page.goto(url + path)
        found[path] = serious(page)
    assert found == {path: [] for path in found}
