"""Helpers for end-to-end tests of the running stack (started by scripts/test)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import Crm


@pytest.fixture
def stack_crm(stack: dict[str, str]) -> Crm:
    """The stack's own CRM dataset, where crm_writer writes."""
    from devstack import dataset

    client = dataset.bigquery_client(stack["GOOGLE_CLOUD_PROJECT"], stack["BIGQUERY_EMULATOR_HOST"])
    return Crm(client, stack["BIGQUERY_DATASET"])


@pytest.fixture
def stack_managers(stack: dict[str, str]) -> Iterator[list[str]]:
    """Two fresh managers (ManyChat subscriber ids) in the stack's settings/managers, so a
    test can count exactly what its own managers were told; the old list is put back."""
    import os

    from orderhub.managers import FirestoreManagers, Manager
    from tests.manychat import new_subscriber_id

    os.environ["FIRESTORE_EMULATOR_HOST"] = stack["FIRESTORE_EMULATOR_HOST"]
    from google.cloud import firestore

    db = firestore.Client(
        project=stack["GOOGLE_CLOUD_PROJECT"], database=stack["MANAGERS_DATABASE"]
    )
    store = FirestoreManagers(db)
    before = store.load()
    managers = [new_subscriber_id(), new_subscriber_id()]
    store.save(tuple(Manager(m, f"E2E {i}") for i, m in enumerate(managers)))
    yield managers
    if before is None:  # there was no document: leave none, so NOTIFY_MANAGERS applies again
        db.collection("settings").document("managers").delete()
    else:
        store.save(before)


@pytest.fixture
def catalogue(stack: dict[str, str], stack_crm: Crm) -> None:
    """The demo shop's products in the `products` view, sent as Shopify would send them."""
    from devstack.shopify_sender import fixture, send

    product = fixture("product")
    response = send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=stack["SHOPIFY_SHOP_DOMAIN"],
        secret=stack["SHOPIFY_API_SECRET"],
        topic="products/create",
        payload=product,
    )
    assert response.status_code == 200
    rows = stack_crm.wait_for(
        "SELECT sku FROM {ds}.products WHERE product_id = @id",
        lambda rows: len(rows) == len(product["variants"]),
        id=str(product["id"]),
    )
    assert len(rows) == len(product["variants"])


def form_field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


def signed_in(stack: dict[str, str]) -> tuple[requests.Session, Any]:
    """A session signed in as the stack's demo manager, and its sign-in response."""
    session = requests.Session()
    url = stack["ORDER_FORM_URL"]
    page = session.get(url + "/signin", timeout=10)
    response = session.post(
        url + "/signin",
        data={
            "csrf_token": form_field(page.text, "csrf_token"),
            "manager": stack["ORDER_FORM_DEMO_MANAGER"],
            "password": stack["ORDER_FORM_DEMO_PASSWORD"],
        },
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 303
    return session, response
