"""Products both ways on the running stack (issue 24, "done when", products half).

An owner changes a variant's price in the CRM app; with ``outbound.products`` on, the
Shopify stand-in's variant gets that price with exactly one ``productSet``, Shopify's
``products/update`` echo comes back (signed, through the webhook) and is not written back,
and the ``products`` view and the order form's catalogue show the new price. A product
made in the app appears in Shopify with its variants, and its echo joins it (one product in
the view). ``scripts/resync --all products`` completes with a summary; a second run sends
nothing."""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from devstack.shopify_sender import send
from tests.conftest import Crm
from tests.e2e.conftest import form_field, one_sign_in


@pytest.fixture
def products_on(stack: dict[str, str]) -> Iterator[str]:
    """The demo shop's products switched on for this test (off again afterwards)."""
    os.environ["FIRESTORE_EMULATOR_HOST"] = stack["FIRESTORE_EMULATOR_HOST"]
    from google.cloud import firestore

    from orderhub.switches import FirestoreSwitches, Switches

    shop = stack["SHOPIFY_SHOP_DOMAIN"]
    store = FirestoreSwitches(
        firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"], database=stack["APP_DATABASE"]),
        "sync_settings",
    )
    store.put(shop, Switches().changed({"outbound.products": "on"}))
    yield shop
    store.put(shop, Switches())


def signed_in(stack: dict[str, str], *, owner: bool) -> requests.Session:
    session = requests.Session()
    url = stack["ORDER_FORM_URL"]
    page = session.get(url + "/signin", timeout=10)
    with one_sign_in(stack):
        response = session.post(
            url + "/signin",
            data={
                "csrf_token": form_field(page.text, "csrf_token"),
                "manager": stack["CRM_OWNER_NAME"] if owner else stack["ORDER_FORM_DEMO_MANAGER"],
                "password": stack["CRM_OWNER_PASSWORD"]
                if owner
                else stack["ORDER_FORM_DEMO_PASSWORD"],
            },
            timeout=10,
            allow_redirects=False,
        )
    assert response.status_code == 303
    return session


def writes(stack: dict[str, str]) -> dict[str, Any]:
    answer = requests.get(stack["SHOPIFY_ADMIN_URL"] + "/_standin/writes", timeout=10)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def wait(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f}s")
        time.sleep(0.25)


def stays(check: Any, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.25)
    return True


def form_values(html: str) -> dict[str, str]:
    """Every input of the product form with its value (what a browser would post)."""
    values = {}
    for match in re.finditer(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        values[match.group(1)] = match.group(2).replace("&amp;", "&")
    for match in re.finditer(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', html):
        values[match.group(1)] = match.group(2)
    for match in re.finditer(
        r'<select[^>]*name="([^"]+)"[^>]*>.*?<option(?: value="([^"]*)")? selected>([^<]*)',
        html,
        re.S,
    ):
        values[match.group(1)] = match.group(2) or match.group(3)
    return values


def product_sets(stack: dict[str, str]) -> int:
    return int(writes(stack)["counts"].get("productSet", 0))


def test_a_price_changed_in_the_app_reaches_shopify_once_and_the_echo_is_not_sent_back(
    stack: dict[str, str], stack_crm: Crm, products_on: str
) -> None:
    shop, url = products_on, stack["ORDER_FORM_URL"]
    product_id = random.randint(10**9, 10**10)
    sku = f"E2E-APRON-{product_id}"
    rest = {
        "id": product_id,
        "title": f"E2E apron {product_id}",
        "status": "active",
        "tags": "",
        "updated_at": "2026-11-01T00:00:00Z",
        "created_at": "2026-11-01T00:00:00Z",
        "variants": [{"id": product_id + 1, "sku": sku, "title": "Default Title", "price": "9.00"}],
    }
    requests.post(
        stack["SHOPIFY_ADMIN_URL"] + "/_standin/shop/products", json=rest, timeout=10
    ).raise_for_status()
    sent = send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=shop,
        secret=stack["SHOPIFY_API_SECRET"],
        topic="products/create",
        payload=rest,
    )
    assert sent.status_code == 200
    stack_crm.wait_for(
        "SELECT price FROM {ds}.products WHERE product_id = @id",
        lambda rows: len(rows) == 1,
        id=str(product_id),
    )
    before = product_sets(stack)

    manager = signed_in(stack, owner=False)
    page = manager.get(f"{url}/catalogue/{product_id}", timeout=10)
    assert page.status_code == 200 and "Only the shop’s owner can change products" in page.text
    refused = manager.post(f"{url}/catalogue/{product_id}", data=form_values(page.text), timeout=10)
    assert refused.status_code == 403

    owner = signed_in(stack, owner=True)
    page = owner.get(f"{url}/catalogue/{product_id}", timeout=10)
    assert page.status_code == 200
    values = form_values(page.text)
    assert values["variants-0-price"] == "9.00"
    values["variants-0-price"] = "12.50"
    saved = owner.post(
        f"{url}/catalogue/{product_id}", data=values, timeout=10, allow_redirects=False
    )
    assert saved.status_code == 303, saved.text

    # The CRM shows it at once: the products view and the order form's catalogue.
    stack_crm.wait_for(
        "SELECT CAST(price AS STRING) AS price FROM {ds}.products WHERE product_id = @id",
        lambda rows: [Decimal(r["price"]) for r in rows] == [Decimal("12.50")],
        id=str(product_id),
    )
    picked = owner.get(f"{url}/products", params={"q": sku}, timeout=10).json()["products"]
    assert [p["price"] for p in picked] == ["12.50"]

    # Shopify gets it with one productSet; its products/update echo comes back and is
    # taken in (a shopify version), but never written back.
    def shopify_price() -> str | None:
        for node in writes(stack)["products"]:
            if node["legacyResourceId"] == str(product_id):
                return str(node["variants"][0]["price"])
        return None

    assert wait(lambda: shopify_price() == "12.50")
    echoes = wait(
        lambda: [
            w
            for w in requests.get(
                stack["SHOPIFY_ADMIN_URL"] + "/_standin/webhooks_sent", timeout=10
            ).json()
            if w["topic"] == "products/update" and w["id"] == product_id and w["status"] == 200
        ]
    )
    assert len(echoes) == 1
    stack_crm.wait_for(
        "SELECT source FROM {ds}.product_events WHERE product_id = @id AND source = 'shopify'"
        " AND TIMESTAMP_TRUNC(occurred_at, DAY) > TIMESTAMP '2026-11-02'",
        lambda rows: len(rows) >= 1,
        id=str(product_id),
    )
    assert stays(lambda: product_sets(stack) == before + 1, seconds=4.0)
    status = stack_crm.wait_for(
        "SELECT status, reason FROM {ds}.sync_status WHERE entity = 'product' AND record_id = @id",
        lambda rows: bool(rows) and rows[0]["status"] == "synced",
        id=str(product_id),
    )
    assert "price of " + sku in status[0]["reason"]
    listed = owner.get(f"{url}/catalogue", params={"q": sku}, timeout=10)
    assert listed.status_code == 200 and "synced" in listed.text
    # The view still holds the new price after the echo (the echo carries the same price).
    rows = stack_crm.query(
        "SELECT CAST(price AS STRING) AS price FROM {ds}.products WHERE product_id = @id",
        id=str(product_id),
    )
    assert [Decimal(r["price"]) for r in rows] == [Decimal("12.50")]


def test_a_new_product_made_in_the_app_appears_in_shopify_with_its_variants(
    stack: dict[str, str], stack_crm: Crm, products_on: str, monkeypatch: Any, capsys: Any
) -> None:
    url = stack["ORDER_FORM_URL"]
    owner = signed_in(stack, owner=True)
    page = owner.get(f"{url}/catalogue/new", timeout=10)
    assert page.status_code == 200
    values = form_values(page.text)
    title = f"E2E linen bag {random.randint(10**6, 10**7)}"
    values.update(
        {
            "title": title,
            "description": "Washed linen, two colours",
            "images": "https://cdn.example.com/bag.jpg",
            "variants-0-title": "Sand",
            "variants-0-sku": f"{title}-S".replace(" ", "-"),
            "variants-0-price": "24.00",
            "variants-0-compare_at_price": "29.00",
            "variants-0-barcode": "5601234567890",
            "variants-0-weight": "0.3",
            "variants-1-title": "Clay",
            "variants-1-sku": f"{title}-C".replace(" ", "-"),
            "variants-1-price": "26.00",
            "variants-1-variant_id": "",
            "variants-1-inventory_item_id": "",
            "variants-1-compare_at_price": "",
            "variants-1-barcode": "",
            "variants-1-weight": "",
            "variants-1-weight_unit": "kg",
        }
    )
    saved = owner.post(f"{url}/catalogue/new", data=values, timeout=10, allow_redirects=False)
    assert saved.status_code == 303, saved.text
    crm_id = saved.headers["Location"].split("/catalogue/")[1].split("?")[0]
    assert crm_id.startswith("crm-")

    def in_shopify() -> list[dict[str, Any]]:
        return [
            n
            for n in writes(stack)["products"]
            if f"orderhub-product:{crm_id}" in (n.get("tags") or [])
        ]

    [created] = wait(in_shopify)
    assert created["title"] == title
    assert {(v["sku"], v["price"], v["title"]) for v in created["variants"]} == {
        (values["variants-0-sku"], "24.00", "Sand"),
        (values["variants-1-sku"], "26.00", "Clay"),
    }
    assert created["images"] == [{"src": "https://cdn.example.com/bag.jpg", "alt": None}]
    # Shopify's products/create echo joins the CRM product: one product in the view, with
    # the variants' Shopify ids now.
    stack_crm.wait_for(
        "SELECT product_id FROM {ds}.product_events WHERE product_id = @id AND source = 'shopify'"
        " AND JSON_VALUE(entity, '$.shopify_product_id') = @shopify_id",
        lambda rows: len(rows) >= 1,
        id=crm_id,
        shopify_id=created["legacyResourceId"],
    )
    rows = stack_crm.query(
        "SELECT product_id, variant_id FROM {ds}.products WHERE title = @title", title=title
    )
    assert len(rows) == 2 and {r["product_id"] for r in rows} == {crm_id}
    assert stays(lambda: len(in_shopify()) == 1)

    # The complete first sync on the demo shop: a summary; the second run sends nothing.
    from orderhub.shopify_sync import cli

    for key, value in stack.items():
        monkeypatch.setenv(key, value)
    first = cli.resync_main(["--all", "products", "--restart"])
    summary = capsys.readouterr().out
    assert '"kind": "products"' in summary and "sent," in summary, (first, summary)
    assert cli.resync_main(["--all", "products"]) == 0
    again = capsys.readouterr().out
    assert '"sent": 0' in again, again
    assert len(in_shopify()) == 1


def test_switching_products_on_offers_the_complete_first_sync(
    stack: dict[str, str], products_on: str
) -> None:
    """``products_on`` puts the switch back off afterwards; here the owner turns it on."""
    from orderhub.switches import FirestoreSwitches, Switches

    os.environ["FIRESTORE_EMULATOR_HOST"] = stack["FIRESTORE_EMULATOR_HOST"]
    from google.cloud import firestore

    FirestoreSwitches(
        firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"], database=stack["APP_DATABASE"]),
        "sync_settings",
    ).put(products_on, Switches())
    url = stack["ORDER_FORM_URL"]
    owner = signed_in(stack, owner=True)
    page = owner.get(url + "/settings", timeout=10)
    values = {"csrf_token": form_field(page.text, "csrf_token"), "outbound.products": "on"}
    values["orders_per_minute"] = "0"
    saved = owner.post(url + "/settings/sync", data=values, timeout=10)
    assert saved.status_code == 200
    assert f"scripts/resync --all products --shop {products_on}" in saved.text
    again = owner.post(url + "/settings/sync", data=values, timeout=10)
    assert "scripts/resync --all" not in again.text  # offered when it is switched on only


def test_a_product_deleted_in_the_app_leaves_the_views_and_stays_in_shopify(
    stack: dict[str, str], stack_crm: Crm, products_on: str
) -> None:
    url = stack["ORDER_FORM_URL"]
    owner = signed_in(stack, owner=True)
    values = form_values(owner.get(f"{url}/catalogue/new", timeout=10).text)
    title = f"E2E gone mug {random.randint(10**6, 10**7)}"
    values.update({"title": title, "variants-0-price": "5.00", "variants-0-sku": title})
    saved = owner.post(f"{url}/catalogue/new", data=values, timeout=10, allow_redirects=False)
    crm_id = saved.headers["Location"].split("/catalogue/")[1].split("?")[0]
    stack_crm.wait_for(
        "SELECT 1 FROM {ds}.products WHERE product_id = @id", lambda r: len(r) == 1, id=crm_id
    )
    shopify = wait(
        lambda: [n for n in writes(stack)["products"] if f"orderhub-product:{crm_id}" in n["tags"]]
    )
    page = owner.get(f"{url}/catalogue/{crm_id}", timeout=10)
    gone = owner.post(
        f"{url}/catalogue/{crm_id}/delete",
        data={
            "csrf_token": form_field(page.text, "csrf_token"),
            "form_token": form_field(page.text, "form_token"),
        },
        timeout=10,
        allow_redirects=False,
    )
    assert gone.status_code == 303
    stack_crm.wait_for(
        "SELECT 1 FROM {ds}.products WHERE product_id = @id", lambda r: r == [], id=crm_id
    )
    assert owner.get(f"{url}/products", params={"q": title}, timeout=10).json()["products"] == []
    status = stack_crm.wait_for(
        "SELECT reason FROM {ds}.sync_status WHERE entity = 'product' AND record_id = @id",
        lambda r: bool(r) and r[0]["reason"].startswith("deleted in the CRM"),
        id=crm_id,
    )
    assert status
    assert [n["id"] for n in writes(stack)["products"] if n["id"] == shopify[0]["id"]]
