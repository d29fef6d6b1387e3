"""Issue 24 in a browser (Chromium at 390 px): the owner edits a customer on a phone, the
form fits the screen and axe-core finds no critical or serious violation on the edit page
or on the customers list with its sync-status column and "Send to Shopify now" buttons."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.conftest import Crm
from tests.e2e.test_crmapp_a11y_browser import serious
from tests.e2e.test_crmapp_browser import send_order, shot, sign_in
from tests.e2e.test_order_form_browser import page  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser


def test_the_owner_edits_a_customer_on_a_phone(
    page: Any,  # noqa: F811
    stack: dict[str, str],
    stack_crm: Crm,
) -> None:
    local = f"201555{random.randint(1000, 9999)}"
    send_order(stack, stack_crm, "+1" + local)
    sign_in(page, stack, owner=True)
    url = stack["CRM_APP_URL"]
    page.goto(f"{url}/customers/p1{local}")
    page.click("#edit-customer")
    page.wait_for_selector("h1:has-text('Edit')")
    assert serious(page) == []
    assert page.is_visible("#delete-in-shopify")  # the owner may also delete in Shopify
    shot(page, "customer-edit")
    email = f"e2e-{random.randint(10**5, 10**6)}@example.com"
    page.fill("#email", email)
    page.fill("#tags", "vip")
    page.fill("#city", "")
    page.fill("#address1", "1 Main St")
    page.click("#save-customer")
    page.wait_for_selector("#city-error")  # the address needs its city: nothing lost
    assert page.input_value("#email") == email
    page.fill("#city", "Newark")
    page.fill("#country_code", "US")
    page.click("#save-customer")
    page.wait_for_selector("#send-now")
    assert "Saved" in page.inner_text("main")
    for _ in range(60):  # crm_writer stores the edit in a moment: search until it is there
        page.goto(f"{url}/customers?q={email}")
        if page.query_selector("#customer-list .send-now button"):
            break
        page.wait_for_timeout(500)
    assert serious(page) == []
    assert "Shopify:" in page.inner_text("#customer-list")
    shot(page, "customers-sync")
