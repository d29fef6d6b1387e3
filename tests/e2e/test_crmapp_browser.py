"""The CRM app in headless Chromium (Debian's /usr/bin/chromium) at a phone's size (390 px).

Each test drives what a manager (or the owner) does on the phone and keeps a screenshot
in test-output/crmapp-*.png. Orders come in as Shopify would send them (signed webhooks
to the running stack), mails through the Gmail stand-in and its push.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Crm
from tests.e2e.conftest import one_sign_in
from tests.e2e.test_order_form_browser import OUTPUT, page  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser
MAILS = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def sign_in(page: Any, stack: dict[str, str], *, owner: bool = False) -> None:  # noqa: F811
    url = stack["CRM_APP_URL"]
    page.goto(url + "/orders")
    assert page.url.endswith("/signin")  # not signed in: the sign-in page
    name = stack["CRM_OWNER_NAME"] if owner else stack["ORDER_FORM_DEMO_MANAGER"]
    password = stack["CRM_OWNER_PASSWORD"] if owner else stack["ORDER_FORM_DEMO_PASSWORD"]
    page.fill("#manager", name)
    page.fill("#password", password)
    with one_sign_in(stack):
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("h1:has-text('New order')")


def shot(page: Any, name: str) -> None:  # noqa: F811
    # Readable at 390 px: nothing wider than the screen, so no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"crmapp-{name}.png"), full_page=True, scale="css")


def send_order(stack: dict[str, str], stack_crm: Crm, phone: str) -> str:
    from devstack.shopify_sender import fixture, send

    order_id = random.randint(10**11, 10**12)
    at = datetime.now(UTC) - timedelta(minutes=3)
    created = {
        **fixture("order"),
        "id": order_id,
        "name": f"#{order_id % 100000}",
        "phone": phone,
        "created_at": at.isoformat(),
        "updated_at": at.isoformat(),
    }
    paid = {
        **created,
        "financial_status": "paid",
        "updated_at": (at + timedelta(minutes=1)).isoformat(),
    }
    for topic, payload in (("orders/create", created), ("orders/paid", paid)):
        answer = send(
            stack["SHOPIFY_WEBHOOK_URL"],
            shop=stack["SHOPIFY_SHOP_DOMAIN"],
            secret=stack["SHOPIFY_API_SECRET"],
            topic=topic,
            payload=payload,
        )
        assert answer.status_code == 200, answer.text
    stack_crm.wait_for(
        "SELECT status FROM {ds}.orders WHERE order_id = @id",
        lambda rows: [r["status"] for r in rows] == ["paid"],
        id=str(order_id),
    )
    return str(order_id)


def test_a_manager_finds_an_order_by_phone_sees_its_life_and_orders_again(
    page: Any,  # noqa: F811
    stack: dict[str, str],
    stack_crm: Crm,
) -> None:
    local = f"201555{random.randint(1000, 9999)}"
    order_id = send_order(stack, stack_crm, "+1" + local)
    sign_in(page, stack)
    shot(page, "signed-in")

    page.click("nav.tabs >> text=Orders")
    page.fill("#q", f"({local[:3]}) {local[3:6]}-{local[6:]}")  # as a manager types it
    page.keyboard.press("Enter")
    page.wait_for_selector("#order-list a.row")
    rows = page.locator("#order-list a.row")
    assert rows.count() == 1
    shot(page, "orders-found-by-phone")

    rows.first.click()
    page.wait_for_selector("#timeline li")
    steps = page.locator("#timeline li").all_text_contents()
    assert steps[0].startswith("created") and "shopify" in steps[0]
    assert any(s.startswith("paid") for s in steps[1:])
    assert order_id in page.url
    shot(page, "order-timeline")

    page.click("#customer-link")
    page.wait_for_selector("#new-order")
    assert page.text_content("#order-count") == "1"
    shot(page, "customer")

    page.click("#new-order")
    page.wait_for_selector("h1:has-text('New order')")
    assert page.input_value("#phone") == "+1" + local
    shot(page, "prefilled-order")

    # Typing a known customer's phone on a blank form offers the customer.
    page.goto(stack["CRM_APP_URL"] + "/")
    page.locator("#phone").press_sequentially(f"{local[:3]} {local[3:6]} {local[6:]}")
    page.wait_for_selector("#phone-match:has-text('Known customer')")
    page.click("#phone-match button:has-text('Fill in')")
    assert page.input_value("#customer_name") == "Bob Norman"


def test_a_new_order_appears_in_the_open_list_without_a_reload(
    page: Any,  # noqa: F811
    stack: dict[str, str],
    stack_crm: Crm,
) -> None:
    page.clock.install()  # the page's own timers, which the test may move on
    sign_in(page, stack)
    page.click("nav.tabs >> text=Orders")
    page.wait_for_selector("#live:has-text('Up to date')")
    order_id = send_order(stack, stack_crm, f"+1201555{random.randint(1000, 9999)}")
    # The page polls every 15 s; no reload, no click. Its clock jumps to the next poll
    # instead of the test waiting up to 15 s for it.
    page.clock.fast_forward("00:15")
    row = page.locator(f"#order-list a.row[href$='/orders/{order_id}']")
    row.wait_for(timeout=40_000)
    assert "new" in (row.text_content() or "")
    shot(page, "live-new-order")


def test_a_manager_marks_a_quarantined_mail_handled(
    page: Any,  # noqa: F811
    stack: dict[str, str],
    stack_crm: Crm,
) -> None:
    from devstack.mail import deliver_and_notify

    delivered = deliver_and_notify(stack, (MAILS / "smakuy_broken.eml").read_bytes())
    ref = str(delivered["id"])
    stack_crm.wait_for(
        "SELECT event_id FROM {ds}.quarantine WHERE ref = @ref",
        lambda rows: len(rows) == 1,
        ref=ref,
    )
    sign_in(page, stack)
    page.click("nav.tabs >> text=Attention")
    item = page.locator("#quarantine a.row", has_text=ref)
    assert "missing phone" in item.text_content()
    item.click()
    page.wait_for_selector("pre.mail")
    assert "SM-48410" in page.text_content("pre.mail")  # the mail, as text
    page.fill("#note", "called the restaurant, typed in by hand")
    page.click("button:has-text('Mark handled')")
    page.wait_for_selector("h1:has-text('Needs attention')")
    assert page.locator("#quarantine a.row", has_text=ref).count() == 0
    page.click("text=/Show \\d+ handled/")
    handled = page.locator("#quarantine a.row", has_text=ref)
    assert re.search(r"handled by demo", handled.text_content() or "")
    shot(page, "attention-handled")


def test_the_owner_changes_a_sync_switch_and_a_manager_may_not(
    page: Any,  # noqa: F811
    stack: dict[str, str],
) -> None:
    sign_in(page, stack)
    refused = page.goto(stack["CRM_APP_URL"] + "/settings")
    assert refused is not None and refused.status == 403
    assert "Owners only" in page.text_content("h1")
    page.click("button:has-text('Sign out')")

    sign_in(page, stack, owner=True)
    page.click("nav.tabs >> text=Settings")
    page.wait_for_selector("#sync-settings")
    before = page.is_checked("#outbound-customers")
    page.set_checked("#outbound-customers", not before)
    page.click("button:has-text('Save sync settings')")
    page.wait_for_selector("#saved")
    assert page.is_checked("#outbound-customers") is (not before)
    latest = page.locator("#audit li").first.text_content() or ""
    assert f"{stack['CRM_OWNER_NAME']}:" in latest and "outbound.customers" in latest
    assert f"{before} → {not before}" in latest
    shot(page, "settings-switch")
