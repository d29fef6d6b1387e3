"""The order form in headless Chromium (Debian's /usr/bin/chromium) at a phone's size.

Playwright drives the browser the distribution installed (scripts/bootstrap installs it);
it never downloads one. The confirmation's screenshot is kept in test-output/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Crm
from tests.e2e.conftest import one_sign_in

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh phone-sized page: a new browser context (no cookies, storage, cache or
    service workers of any other test) in the process's Chromium."""
    context = chromium().new_context(
        viewport=PHONE,
        screen=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Any, stack: dict[str, str]) -> None:
    page.goto(stack["ORDER_FORM_URL"] + "/")
    assert page.url.endswith("/signin")  # not signed in: the sign-in page, never the form
    page.fill("#manager", stack["ORDER_FORM_DEMO_MANAGER"])
    page.fill("#password", stack["ORDER_FORM_DEMO_PASSWORD"])
    with one_sign_in(stack):
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("h1:has-text('New order')")


def test_a_manager_takes_an_order_on_a_phone(
    page: Any, stack: dict[str, str], catalogue: None, stack_crm: Crm
) -> None:
    sign_in(page, stack)

    # Item one from the catalogue, found by its SKU; item two typed in by hand.
    page.fill("#product-search", "ipod2008pink")
    page.click(".results button:has-text('Pink')")
    assert page.input_value("#lines-0-price") == "199.00"
    page.click("button:has-text('+ Custom item')")
    page.locator("[data-line]").last.locator("[data-field=title]").fill("Gift wrap")
    page.locator("[data-line]").last.locator("[data-field=quantity]").fill("2")
    page.locator("[data-line]").last.locator("[data-field=price]").fill("3,50")
    assert page.text_content("#total") == "206.00"

    page.fill("#customer_name", "Olena Koval")
    page.fill("#phone", "201 555 0123")
    page.check("input[name=channel][value=instagram]")
    page.check("input[name=delivery_method][value=courier]")
    page.fill("#address", "1 Main St, Springfield")
    page.click("button:has-text('Save order')")

    page.wait_for_selector("h1:has-text('Order saved')")
    number = page.text_content("#order-number") or ""
    assert re.fullmatch(r"M-[A-Z2-7]{10}", number)
    assert page.text_content("#order-total") == "206.00"
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "order-form-confirmation.png"), full_page=True)

    rows = stack_crm.wait_for(
        "SELECT source, manager, total FROM {ds}.orders WHERE order_id = @id",
        lambda rows: len(rows) == 1,
        id=number,
    )
    assert [(r["source"], r["manager"], r["total"]) for r in rows] == [
        ("manual", "demo", Decimal("206.00"))
    ]


def test_a_bad_phone_shows_its_error_in_place(page: Any, stack: dict[str, str]) -> None:
    sign_in(page, stack)
    page.fill("#lines-0-title", "Gift wrap")
    page.fill("#lines-0-price", "3.50")
    page.fill("#customer_name", "Olena Koval")
    page.fill("#phone", "12345")
    page.check("input[name=delivery_method][value=pickup]")
    page.click("button:has-text('Save order')")

    page.wait_for_selector("#phone-error")
    assert "not a valid phone number" in (page.text_content("#phone-error") or "")
    assert page.get_attribute("#phone", "aria-describedby") == "phone-error"
    # The message sits right below the phone field, and everything typed is still there.
    phone_box = page.locator("#phone").bounding_box()
    error_box = page.locator("#phone-error").bounding_box()
    assert 0 <= error_box["y"] - (phone_box["y"] + phone_box["height"]) < 40
    assert page.input_value("#customer_name") == "Olena Koval"
    assert page.input_value("#lines-0-title") == "Gift wrap"
    assert page.input_value("#phone") == "12345"
    assert page.evaluate("document.activeElement.id") == "phone"  # taken to the mistake
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "order-form-phone-error.png"))
