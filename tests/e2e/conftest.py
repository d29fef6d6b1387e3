"""Helpers for end-to-end tests of the running stack (started by scripts/test)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from tests.conftest import Crm, is_alone, xdist_group

#: The next test this process runs (pytest's ``nextitem``), noted for ``alone_or_beside``.
NEXT = pytest.StashKey[pytest.Item | None]()
#: The room, held alone from one ``ALONE`` test to the next one of this process.
_held: list[Any] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    item.stash[NEXT] = nextitem


def _leave(room: Any) -> None:
    import fcntl

    fcntl.flock(room, fcntl.LOCK_UN)
    room.close()


@pytest.fixture(autouse=True)
def alone_or_beside(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Under pytest-xdist, a test of ``ALONE`` (tests/conftest.py) runs while no other
    end-to-end test of the shared stack does: the others hold the room shared, it holds it
    alone (``dev-terminal`` cases run a stack of their own and need no room).

    Two ``flock`` files of the run: the room (shared or exclusive) and a turnstile taken on
    the way in, so that a test waiting to be alone is not kept out by the others' next tests
    (readers enter one at a time through the turnstile; the lone test keeps it until it
    is in). A lone test followed by another (``ALONE`` tests run last in their group,
    together) hands the room on without letting the others in between: each time they
    got in, the next lone test waited for their running tests (a browser test: 15 s)."""
    import fcntl
    import os

    group = xdist_group(request.node.nodeid)
    alone = is_alone(request.node.nodeid)
    if _held and not alone:  # the lone test meant to take it over did not run
        _leave(_held.pop())
    if "PYTEST_XDIST_WORKER" not in os.environ or group in (None, "dev-terminal"):
        yield
        return
    shared = tmp_path_factory.getbasetemp().parent  # one per pytest run, as stack.json
    if _held:  # handed on by the previous lone test of this process
        room = _held.pop()
    else:
        room = open(shared / "e2e-room.lock", "w")
        with open(shared / "e2e-turnstile.lock", "w") as gate:
            fcntl.flock(gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
    try:
        yield
    finally:
        following = request.node.stash.get(NEXT, None)
        if alone and following is not None and is_alone(following.nodeid):
            _held.append(room)
        else:
            _leave(room)


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
