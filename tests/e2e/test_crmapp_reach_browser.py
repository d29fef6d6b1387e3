"""Issue 22 items 6-8 on a phone (headless Chromium at 390 px, screenshots in
test-output/crmapp-reach-*.png), in the running stack: a quarantined mail shown by what was
read and why in words, made into an order from the form beside the mail; a payment link
shared by the share sheet (copy where there is none), SMS and WhatsApp, and listed as
unpaid with its age; the app installable (manifest, a service worker that caches the shell
and never a page with orders) with its alerts page."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Crm
from tests.e2e.test_crmapp_browser import shot, sign_in
from tests.e2e.test_order_form_browser import page  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser
MAILS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "email"


def test_a_quarantined_mail_becomes_an_order_from_the_phone(
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
    row = page.locator("#quarantine a.row", has_text=ref)
    said = " ".join((row.text_content() or "").split())
    assert "SM-48410" in said and "Ірина Бондар" in said and "total not read" in said
    assert "missing phone number" in said and "line_items" not in said
    shot(page, "reach-quarantine")
    row.click()
    page.click("#make-order")
    page.wait_for_selector("#mail-beside")
    assert page.input_value("#customer_name") == "Ірина Бондар"
    assert "SM-48410" in page.input_value("#note")
    assert "SM-48410" in (page.text_content("#mail-beside pre.mail") or "")
    shot(page, "reach-order-from-mail")
    page.fill("#phone", f"+380 67 {random.randint(100, 999)} {random.randint(1000, 9999)}")
    page.fill("#lines-0-title", "Борщ")
    page.fill("#lines-0-quantity", "2")
    page.fill("#lines-0-price", "95")
    page.check("input[name=delivery_method][value=courier]")
    page.click("button:has-text('Save order')")
    page.wait_for_selector("#order-number")
    number = page.text_content("#order-number") or ""
    shot(page, "reach-order-from-mail-saved")
    rows = stack_crm.wait_for(
        "SELECT order_id, source, external_ref FROM {ds}.orders WHERE order_id = @o",
        lambda found: len(found) == 1,
        o=number,
    )
    assert (rows[0]["source"], rows[0]["external_ref"]) == ("manual", "SM-48410")
    page.goto(stack["CRM_APP_URL"] + "/attention")
    assert page.locator("#quarantine a.row", has_text=ref).count() == 0


def test_a_payment_link_is_shared_and_listed_as_unpaid(
    page: Any,  # noqa: F811
    stack: dict[str, str],
) -> None:
    sign_in(page, stack)
    page.fill("#lines-0-title", "Gift wrap")
    page.fill("#lines-0-quantity", "1")
    page.fill("#lines-0-price", "3.50")
    page.fill("#phone", "+1 201 555 0177")
    page.click("button:has-text('Payment link')")
    page.wait_for_selector("#invoice-url")
    url = page.input_value("#invoice-url")
    assert page.get_attribute("#send-sms", "href").startswith("sms:+12015550177?body=")
    assert page.get_attribute("#send-whatsapp", "href").startswith(
        "https://wa.me/12015550177?text="
    )
    page.click("[data-share]")  # no share sheet in headless Chromium: copied instead
    page.wait_for_selector("[data-share]:has-text('Copied'), [data-share]:has-text('Shared')")
    for name in ("#send-sms", "#send-whatsapp", "[data-share]"):
        box = page.locator(name).bounding_box()
        assert box is not None and box["height"] >= 44
    shot(page, "reach-payment-link")
    page.click("#unpaid-links-link")
    # The click waits for the navigation to start, not for the list: count on the new page.
    page.wait_for_selector("#unpaid-links, #no-unpaid-links")
    listed = page.locator("#unpaid-links li", has=page.locator(f"[data-url='{url}']"))
    assert listed.count() == 1 and "min old" in (listed.text_content() or "")
    shot(page, "reach-unpaid-links")


def test_the_app_installs_and_its_worker_caches_the_shell_only(
    page: Any,  # noqa: F811
    stack: dict[str, str],
) -> None:
    base = stack["CRM_APP_URL"]
    sign_in(page, stack)
    manifest = page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())"
    )
    assert manifest["display"] == "standalone" and manifest["start_url"].endswith("/orders")
    assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.goto(base + "/orders")  # a page with orders, now under the worker
    page.reload()
    assert page.evaluate("!!navigator.serviceWorker.controller")
    cached = page.evaluate(
        "caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k)"
        ".then(c => c.keys())))).then(all => all.flat().map(r => new URL(r.url).pathname))"
    )
    assert "/offline" in cached and "/assets/crm.css" in cached
    assert all(p == "/offline" or p.startswith(("/assets/", "/icons/")) for p in cached), cached
    page.click("nav.tabs >> text=Attention")
    page.click("#push-link")
    page.wait_for_selector("#push-form")
    assert page.get_attribute("#push-form", "data-vapid") == stack["VAPID_PUBLIC_KEY"]
    shot(page, "reach-alerts")
    page.context.set_offline(True)
    page.goto(base + "/orders")
    assert page.locator("#offline").count() == 1  # the offline page, no orders
    shot(page, "reach-offline")
    page.context.set_offline(False)
