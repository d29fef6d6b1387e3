"""Helpers for end-to-end tests of the running stack (started by scripts/test)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Crm

#: The browser tests drive the distribution's Chromium (scripts/bootstrap installs it).
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, started once per test process (its start and Playwright's
    driver cost about two CPU seconds; a test gets a context of its own, ``page``)."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: run scripts/bootstrap (installs it)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browsers: list[Any] = []

    def connected() -> Any:
        if not browsers or not browsers[-1].is_connected():  # started, or started again
            browsers.append(
                playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
            )
        return browsers[-1]

    try:
        yield connected
    finally:
        for browser in browsers:
            if browser.is_connected():
                browser.close()
        playwright.stop()


@pytest.fixture
def stack_crm(stack: dict[str, str]) -> Crm:
    """The stack's own CRM dataset, where crm_writer writes."""
    from devstack import dataset

    client = dataset.bigquery_client(stack["GOOGLE_CLOUD_PROJECT"], stack["BIGQUERY_EMULATOR_HOST"])
    return Crm(client, stack["BIGQUERY_DATASET"])


@pytest.fixture
def stack_managers(
    stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """Two fresh managers (ManyChat subscriber ids) added to the stack's settings/managers,
    so a test can count exactly what its own managers were told about its own orders;
    taken out again afterwards. Tests running beside it (other groups) add theirs to the
    same list, so every manager there hears of every order: count only your own orders.

    The list is changed under a lock of the run (read, change, write), so two tests never
    lose each other's managers. When the last ones leave a list that no one else put there
    (no document before), the document goes, so NOTIFY_MANAGERS applies again."""
    import fcntl
    import os

    from orderhub.managers import FirestoreManagers, Manager
    from tests.manychat import new_subscriber_id

    os.environ["FIRESTORE_EMULATOR_HOST"] = stack["FIRESTORE_EMULATOR_HOST"]
    from google.cloud import firestore

    db = firestore.Client(
        project=stack["GOOGLE_CLOUD_PROJECT"], database=stack["MANAGERS_DATABASE"]
    )
    store = FirestoreManagers(db)
    managers = [new_subscriber_id(), new_subscriber_id()]
    lock_path = tmp_path_factory.getbasetemp().parent / "e2e-managers.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = store.load() or ()
        store.save((*before, *(Manager(m, f"E2E {i}") for i, m in enumerate(managers))))
    yield managers
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        left = tuple(m for m in store.load() or () if m.subscriber_id not in managers)
        if left:
            store.save(left)
        else:  # only tests' managers were there: leave no document, as before them
            db.collection("settings").document("managers").delete()


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


@contextmanager
def one_sign_in(stack: dict[str, str]) -> Iterator[None]:
    """Sign in inside this, one at a time across the run's workers. The end-to-end groups
    all sign in from 127.0.0.1, mostly as the demo manager: the app counts each attempt
    against that manager at that address until its password is checked, so a burst of
    them could reach the throttle's lock (sign-ins that race on a record take turns,
    ``FirestoreThrottle.attempt``)."""
    import fcntl
    import tempfile
    from pathlib import Path
    from urllib.parse import urlsplit

    port = urlsplit(stack["ORDER_FORM_URL"]).port  # one lock per stack
    with open(Path(tempfile.gettempdir()) / f"orderhub-e2e-sign-in-{port}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def form_field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


def signed_in(stack: dict[str, str]) -> tuple[requests.Session, Any]:
    """A session signed in as the stack's demo manager, and its sign-in response."""
    session = requests.Session()
    url = stack["ORDER_FORM_URL"]
    page = session.get(url + "/signin", timeout=10)
    with one_sign_in(stack):
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
