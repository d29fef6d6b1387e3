"""Customers out, on the running stack (issue 24, "done when"): a customer edited in the
CRM app reaches Shopify (the stand-in) with their tags, note and the totals across every
source as tags; the customers list shows their sync status; "Send to Shopify now" sends
once what changed since (a new order's totals), and a second press sends nothing new."""

from __future__ import annotations

import os
import random
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import Crm
from tests.e2e.conftest import form_field, signed_in
from tests.e2e.test_order_form_stack import new_order, order_number
from tests.e2e.test_sync_stack import stays, writes


@pytest.fixture
def customers_on(stack: dict[str, str]) -> Iterator[str]:
    """The demo shop's outbound customers switched on (orders stay off), then off again."""
    os.environ["FIRESTORE_EMULATOR_HOST"] = stack["FIRESTORE_EMULATOR_HOST"]
    from google.cloud import firestore

    from orderhub.switches import FirestoreSwitches, Switches

    shop = stack["SHOPIFY_SHOP_DOMAIN"]
    store = FirestoreSwitches(  # the switches live in the app's database (issue 21)
        firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"], database=stack["APP_DATABASE"]),
        "sync_settings",
    )
    store.put(shop, Switches().changed({"outbound.customers": "on"}))
    yield shop
    store.put(shop, Switches())


def place_order(session: requests.Session, url: str, phone: str, price: str) -> str:
    values = new_order(
        session,
        url,
        phone=phone,
        **{"lines-0-title": "E2E tea", "lines-0-quantity": "1", "lines-0-price": price},
    )
    saved = session.post(url + "/", data=values, timeout=10)
    assert saved.status_code == 201
    return order_number(saved.text)


def mark_paid(session: requests.Session, url: str, stack_crm: Crm, order_id: str) -> None:
    """A manager's "Mark paid": the customer's Spent counts paid orders only (issue 22)."""
    page = session.get(f"{url}/orders/{order_id}", timeout=10)
    data = {
        "csrf_token": form_field(page.text, "csrf_token"),
        "action_token": form_field(page.text, "action_token"),
    }
    assert session.post(f"{url}/orders/{order_id}/paid", data=data, timeout=10).ok
    stack_crm.wait_for(
        "SELECT status FROM {ds}.orders WHERE order_id = @id",
        lambda rows: [r["status"] for r in rows] == ["paid"],
        timeout=30,
        id=order_id,
    )


def shopify_customer(stack: dict[str, str], email: str) -> dict[str, Any] | None:
    found = [c for c in writes(stack)["customers"] if c.get("email") == email]
    return found[0] if found else None


def wait(check: Any, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"waited {timeout:.0f}s")


def customer_sets(stack: dict[str, str]) -> int:
    return int(writes(stack)["counts"].get("customerSet", 0))


def test_a_customer_edited_in_the_app_reaches_shopify_with_tags_and_totals(
    stack: dict[str, str], stack_crm: Crm, customers_on: str
) -> None:
    url = stack["ORDER_FORM_URL"]
    session, _ = signed_in(stack)
    digits = f"35191{random.randint(10**6, 10**7 - 1)}"
    phone = "+" + digits
    first = place_order(session, url, phone, "12.50")
    stack_crm.wait_for(
        "SELECT order_id FROM {ds}.orders WHERE order_id = @id", bool, timeout=30, id=first
    )
    mark_paid(session, url, stack_crm, first)
    key = "p" + digits

    # The manager edits the customer: name, e-mail, tags, note, address.
    edit = session.get(f"{url}/customers/{key}/edit", timeout=10)
    assert edit.status_code == 200
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    name = f"Olena E2E{uuid.uuid4().hex[:4]}"
    form = {
        "csrf_token": form_field(edit.text, "csrf_token"),
        "name": name,
        "phone": phone,
        "email": email,
        "tags": "vip, wholesale",
        "note": "Prefers morning delivery",
        "address1": "Rua Augusta 10",
        "city": "Lisboa",
        "zip": "1100-053",
        "country_code": "pt",
    }
    bad = session.post(f"{url}/customers/{key}/edit", data={**form, "city": ""}, timeout=10)
    assert bad.status_code == 422 and "City is needed" in bad.text  # nothing published
    started = time.monotonic()
    saved = session.post(f"{url}/customers/{key}/edit", data=form, timeout=10)
    assert saved.status_code == 200  # redirected to the customer's page

    created = wait(lambda: shopify_customer(stack, email))
    print(f"edit saved -> customer in Shopify: {time.monotonic() - started:.2f} s")
    assert (created["firstName"], created["lastName"]) == tuple(name.split(" ", 1))
    assert created["phone"] == phone
    assert created["note"] == "Prefers morning delivery"
    assert set(created["tags"]) == {
        "vip",
        "wholesale",
        "orderhub-orders:1",
        "orderhub-spent:USD 12.50",
    }
    assert created["defaultAddress"]["city"] == "Lisboa"
    assert created["defaultAddress"]["countryCode"] == "PT"

    # The customers list shows the sync status of the row.
    def listed() -> str | None:
        page = session.get(f"{url}/customers", params={"q": email}, timeout=10)
        row = re.search(rf'data-key="{key}">(.*?)</li>', page.text, re.S)
        return row.group(1) if row and "Shopify: In Shopify" in row.group(1) else None

    started = time.monotonic()
    row = wait(listed, 30)
    print(f"customers list shows 'In Shopify' after {time.monotonic() - started:.2f} s")
    started = time.monotonic()
    for _ in range(10):
        session.get(f"{url}/customers", params={"q": email}, timeout=10)
    print(
        f"customers list with its status column: {(time.monotonic() - started) / 10:.3f} s a page"
    )
    assert "Send to Shopify now" in row

    # A new order changes the totals; "Send to Shopify now" sends them, once.
    second = place_order(session, url, phone, "7.50")
    stack_crm.wait_for(
        "SELECT order_id FROM {ds}.orders WHERE order_id = @id", bool, timeout=30, id=second
    )
    mark_paid(session, url, stack_crm, second)
    before = customer_sets(stack)
    customer = session.get(f"{url}/customers/{key}", timeout=10)
    csrf = form_field(customer.text, "csrf_token")
    started = time.monotonic()
    sent = session.post(f"{url}/customers/{key}/send", data={"csrf_token": csrf}, timeout=10)
    assert sent.status_code == 200

    def totals_sent() -> bool:
        current = shopify_customer(stack, email) or {}
        return {"orderhub-orders:2", "orderhub-spent:USD 20.00"} <= set(current.get("tags") or ())

    wait(totals_sent)
    print(f"Send now -> new totals in Shopify: {time.monotonic() - started:.2f} s")
    assert customer_sets(stack) == before + 1
    updated = shopify_customer(stack, email) or {}
    assert {"vip", "wholesale"} <= set(updated["tags"])
    assert "orderhub-orders:1" not in updated["tags"]  # the old totals replaced, not added

    # A second press: Shopify already holds all of it, nothing is sent.
    sent = session.post(f"{url}/customers/{key}/send", data={"csrf_token": csrf}, timeout=10)
    assert sent.status_code == 200
    stack_crm.wait_for(
        "SELECT reason FROM {ds}.sync_log WHERE record_id = @id AND entity = 'customer'"
        " AND reason = 'Shopify already holds this'",
        bool,
        timeout=45,
        id=email,
    )
    assert stays(lambda: customer_sets(stack) == before + 1)

    # Without the session's CSRF token, the button does nothing.
    forged = session.post(f"{url}/customers/{key}/send", data={}, timeout=10)
    assert forged.status_code == 403
