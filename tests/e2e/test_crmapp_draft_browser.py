"""Issue 22, "never lose what a manager typed": a half-typed order survives a session that
ended (headless Chromium at 390 px; screenshots in test-output/crmapp-draft-*.png). Save
leads to the sign-in page; after signing in, the form has everything typed, and saving it
saves that order once; the saved page forgets the draft."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Crm
from tests.e2e.conftest import one_sign_in
from tests.e2e.test_crmapp_browser import shot
from tests.e2e.test_order_form_browser import page  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser


def test_a_half_typed_order_survives_an_expired_session(
    page: Any,  # noqa: F811
    stack: dict[str, str],
    stack_crm: Crm,
) -> None:
    url = stack["CRM_APP_URL"]
    page.goto(url + "/signin")
    page.fill("#manager", stack["ORDER_FORM_DEMO_MANAGER"])
    page.fill("#password", stack["ORDER_FORM_DEMO_PASSWORD"])
    with one_sign_in(stack):
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("h1:has-text('New order')")
    page.fill("#lines-0-title", "Gift wrap")
    page.fill("#lines-0-price", "3.50")
    page.fill("#customer_name", "Olena Draft")
    page.fill("#phone", "201 555 0177")
    page.check("input[name=channel][value=instagram]")
    page.check("input[name=delivery_method][value=courier]")
    page.fill("#address", "1 Main St, Springfield")
    page.fill("#note", "call before noon")
    shot(page, "draft-typed")

    page.context.clear_cookies()  # the session ends while the manager types
    page.click("button:has-text('Save order')")
    page.wait_for_selector("button:has-text('Sign in')")
    assert "sign in" in (page.text_content("main") or "").lower()
    shot(page, "draft-signin")
    page.fill("#manager", stack["ORDER_FORM_DEMO_MANAGER"])
    page.fill("#password", stack["ORDER_FORM_DEMO_PASSWORD"])
    with one_sign_in(stack):
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("#draft-restored")
    assert page.input_value("#customer_name") == "Olena Draft"
    assert page.input_value("#phone") == "201 555 0177"
    assert page.input_value("#address") == "1 Main St, Springfield"
    assert page.input_value("#note") == "call before noon"
    assert page.input_value("#lines-0-title") == "Gift wrap"
    assert page.input_value("#lines-0-price") == "3.50"
    assert page.is_checked("input[name=channel][value=instagram]")
    assert page.is_checked("input[name=delivery_method][value=courier]")
    shot(page, "draft-restored")

    page.click("button:has-text('Save order')")
    page.wait_for_selector("#order-number")
    number = page.text_content("#order-number")
    stack_crm.wait_for(
        "SELECT customer.name AS name FROM {ds}.orders WHERE order_id = @id",
        lambda rows: [r["name"] for r in rows] == ["Olena Draft"],
        id=number,
    )
    page.goto(url + "/")  # saved: a new form opens empty
    page.wait_for_selector("h1:has-text('New order')")
    assert page.input_value("#customer_name") == ""
    assert page.locator("#draft-restored").count() == 0
