"""The two-way sync in the running stack (issue 15, "done when"): a form order and an
e-mail order each become exactly one Shopify order in the stand-in, with stock
decremented; the stand-in sends back Shopify's signed ``orders/create`` webhook, which
joins the CRM order (one row in ``orders``, now with the Shopify id and admin link), and
each manager got one message per order."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import Crm, unique
from tests.e2e.conftest import signed_in
from tests.e2e.test_gmail_to_crm import dev_mail
from tests.e2e.test_order_form_stack import new_order, order_number
from tests.manychat import StandIn

SKU = "ORDERHUB-E2E-MUG"


@pytest.fixture
def sync_on(stack: dict[str, str]) -> Iterator[str]:
    """The demo shop's sync switched on for this test (off again afterwards)."""
    os.environ["FIRESTORE_EMULATOR_HOST"] = stack["FIRESTORE_EMULATOR_HOST"]
    from google.cloud import firestore

    from orderhub.switches import FirestoreSwitches, Switches

    shop = stack["SHOPIFY_SHOP_DOMAIN"]
    store = FirestoreSwitches(
        firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"], database=stack["APP_DATABASE"]),
        "sync_settings",
    )
    store.put(shop, Switches().changed({"outbound.orders": "on", "outbound.customers": "on"}))
    yield shop
    store.put(shop, Switches())


def writes(stack: dict[str, str]) -> dict[str, Any]:
    answer = requests.get(stack["SHOPIFY_ADMIN_URL"] + "/_standin/writes", timeout=10)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def shopify_orders(stack: dict[str, str], identifier: str) -> list[dict[str, Any]]:
    return [o for o in writes(stack)["orders"] if o["source_identifier"] == identifier]


def stock(stack: dict[str, str]) -> int:
    for product in writes(stack)["products"]:
        for variant in product.get("variants") or []:
            if variant.get("sku") == SKU:
                return int(variant["inventoryQuantity"])
    raise AssertionError("the e2e product is not in the stand-in")


def stays(check: Any, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.25)
    return True


def joined(crm: Crm, shop: str, order_id: str) -> list[dict[str, Any]]:
    """The order's rows in `orders`, once the echo has added the Shopify id."""
    return crm.wait_for(
        "SELECT order_id, source, shopify_order_id, shopify_admin_url, manager FROM {ds}.orders"
        " WHERE shop = @shop AND order_id = @id",
        lambda rows: any(r["shopify_order_id"] for r in rows),
        timeout=45,
        shop=shop,
        id=order_id,
    )


def test_form_order_becomes_one_shopify_order_and_the_echo_joins_it(
    stack: dict[str, str], stack_crm: Crm, stack_managers: list[str], sync_on: str
) -> None:
    product_id = random.randint(10**9, 10**10)
    requests.post(
        stack["SHOPIFY_ADMIN_URL"] + "/_standin/shop/products",
        json={
            "id": product_id,
            "title": "E2E mug",
            "updated_at": "2026-11-01T00:00:00Z",
            "variants": [
                {"id": product_id + 1, "sku": SKU, "price": "9.00", "inventory_quantity": 20}
            ],
        },
        timeout=10,
    ).raise_for_status()
    before = stock(stack)
    url = stack["ORDER_FORM_URL"]
    session, _ = signed_in(stack)
    values = new_order(
        session,
        url,
        phone=f"+1 201 555 01{random.randint(10, 99)}",
        **{"lines-0-title": "E2E mug", "lines-0-sku": SKU, "lines-0-price": "9.00"},
    )
    saved = session.post(url + "/", data=values, timeout=10)
    assert saved.status_code == 201
    number = order_number(saved.text)

    rows = joined(stack_crm, sync_on, number)
    assert len(rows) == 1
    [row] = rows
    assert (row["source"], row["manager"]) == ("manual", "demo")
    [created] = shopify_orders(stack, f"orderhub:manual:{number}")
    assert row["shopify_order_id"] == str(created["id"])
    assert row["shopify_admin_url"] == f"https://{sync_on}/admin/orders/{created['id']}"
    assert stock(stack) == before - 2

    manychat = StandIn(stack["MANYCHAT_API_URL"])

    def told_once() -> bool:
        return all(
            len([c for c in manychat.delivered(m) if number in str(c["body"])]) == 1
            for m in stack_managers
        )

    deadline = time.monotonic() + 30
    while not told_once() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert told_once()
    assert stays(told_once)  # the echo webhook brought no second message
    assert len(shopify_orders(stack, f"orderhub:manual:{number}")) == 1
    assert len(stack_crm.query("SELECT 1 FROM {ds}.orders WHERE order_id = @id", id=number)) == 1
    status = stack_crm.query(
        "SELECT status, shopify_id FROM {ds}.sync_status"
        " WHERE record_id = @id AND entity = 'order'",
        id=number,
    )
    assert status == [{"status": "synced", "shopify_id": created["admin_graphql_api_id"]}]


def test_email_order_becomes_one_shopify_order_under_its_mailbox(
    stack: dict[str, str], stack_crm: Crm, sync_on: str
) -> None:
    mailbox = f"{unique('sync')}@shop.example"
    dev_mail(mailbox, "kiire_plain_text.eml")
    rows = joined(stack_crm, mailbox, "K-3F8LX")
    assert len(rows) == 1 and rows[0]["source"] == "email:kiire"
    [created] = shopify_orders(stack, f"orderhub@{mailbox}:email:kiire:K-3F8LX")
    assert rows[0]["shopify_order_id"] == str(created["id"])
    assert {"name": "orderhub_shop", "value": mailbox} in created["note_attributes"]
    assert created["total_price"] == "5.00"
    assert stays(lambda: len(shopify_orders(stack, f"orderhub@{mailbox}:email:kiire:K-3F8LX")) == 1)
