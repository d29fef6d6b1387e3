"""Issue 19 where the sync's pieces meet, on the emulators and the Shopify stand-in:
exactly one Shopify order under a timeout plus a search that lags, with two deliveries of
the same event; Shopify's echo confirms an uncertain create; a CRM edit that arrives while
the create is uncertain is not dropped; customers from e-mail never overwrite a Shopify
customer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from orderhub.errors import TransientError
from orderhub.shopify_sync import sync
from tests.conftest import unique
from tests.integration.test_shopify_sync import SHOP, Env, form_order
from tests.integration.test_shopify_sync import env as env  # the fixture

PHONE = "+351912345600"


def test_timeout_plus_lagging_search_and_two_deliveries_is_one_order(env: Env) -> None:
    writes = env.standins[SHOP].writes
    writes.faults["orderCreate"] = ["slow:1.5"]
    writes.faults["orders"] = ["lag:2"]  # Shopify's search index lags behind the create
    event = form_order()
    order_id = event["entity_id"]
    with pytest.raises(TransientError):
        sync.handle(event, env.deps(timeout=0.5))  # created in Shopify; the answer was lost
    assert len(env.orders()) == 1
    with pytest.raises(TransientError):  # the second delivery: looks, never creates
        sync.handle({**event, "event_id": unique("ev")}, env.deps())
    assert len(env.orders()) == 1
    status = env.status(order_id)
    assert (status["status"], status["error_code"]) == ("waiting", "UNCERTAIN")
    assert "not created again" in status["reason"]

    time.sleep(2.2)  # the index caught up; the claim stays ours for the settle window
    later = env.deps(now=lambda: datetime.now(UTC) + timedelta(minutes=5))
    sync.handle(event, later)
    assert len(env.orders()) == 1
    assert writes.counts["orderCreate"] == 1
    status = env.status(order_id)
    assert status["status"] == "synced" and "found in Shopify" in status["reason"]


def test_the_echo_confirms_an_uncertain_create_before_any_redelivery(env: Env) -> None:
    writes = env.standins[SHOP].writes
    writes.faults["orderCreate"] = ["slow:1.5"]
    writes.faults["orders"] = ["lag:30"]
    event = form_order()
    order_id = event["entity_id"]
    with pytest.raises(TransientError):
        sync.handle(event, env.deps(timeout=0.5))
    [created] = env.orders()
    echo = {
        **event,
        "event_id": unique("echo"),
        "event_type": "order.updated",
        "entity": {**event["entity"], "shopify_order_id": str(created["id"])},
    }
    sync.handle(echo, env.deps())  # Shopify's orders/create webhook, as shopify_webhook makes it
    status = env.status(order_id)
    assert status["status"] == "synced"
    assert "confirmed by Shopify's webhook" in status["reason"]
    for _ in range(2):  # Pub/Sub's redelivery, and a second publish of the same event
        sync.handle({**event, "event_id": unique("ev")}, env.deps())
    assert len(env.orders()) == 1 and writes.counts["orderCreate"] == 1


def test_a_crm_edit_while_the_create_is_uncertain_is_sent_not_dropped(env: Env) -> None:
    writes = env.standins[SHOP].writes
    writes.faults["orderCreate"] = ["slow:1.5"]
    event = form_order()
    with pytest.raises(TransientError):
        sync.handle(event, env.deps(timeout=0.5))
    edit = {
        **event,
        "event_id": unique("edit"),
        "event_type": "order.updated",
        "version": int(event["version"]) + 1000,
        "entity": {**event["entity"], "note": "leave at the door"},
    }
    sync.handle(edit, env.deps())
    [order] = env.orders()
    assert order["note"] == "leave at the door"
    assert env.status(event["entity_id"], "order_update")["status"] == "synced"


def email_event(number: str, name: str) -> dict:
    event = form_order(name=name, email=None, phone=PHONE)
    entity = {**event["entity"], "order_id": number, "name": f"#{number}", "manager": None}
    return {
        **event,
        "source": "email:kiire",
        "shop": SHOP,  # (this setup has two shops and no default for mailboxes)
        "entity_id": number,
        "entity": entity,
        "event_id": unique("ev"),
    }


def test_an_email_order_with_someones_phone_never_renames_their_customer(env: Env) -> None:
    assert env.post(form_order(name="Rui Costa", email=None, phone=PHONE)) == 200
    [customer] = env.standins[SHOP].writes.customers.values()
    assert (customer["firstName"], customer["lastName"]) == ("Rui", "Costa")

    number = unique("K")
    assert env.post(email_event(number, "Ana Silva")) == 200
    [customer] = env.standins[SHOP].writes.customers.values()
    assert (customer["firstName"], customer["lastName"]) == ("Rui", "Costa")  # unchanged
    order = next(o for o in env.orders() if o["source_identifier"].endswith(f":{number}"))
    assert order["customer"] is None  # sent without toAssociate
    [status] = env.crm.query(
        "SELECT * FROM {ds}.sync_status WHERE record_id = @r AND entity = 'customer'"
        " AND source = 'email:kiire'",
        r=PHONE,
    )
    assert status["status"] == "skipped" and status["error_code"] == "NOT_ATTACHED"
    assert "under another name" in status["reason"]
    assert env.status(number)["status"] == "synced"


def test_an_email_order_of_the_same_person_is_attached_without_a_write(env: Env) -> None:
    assert env.post(form_order(name="Rui Costa", email=None, phone=PHONE)) == 200
    before = env.standins[SHOP].writes.counts.get("customerSet", 0)
    number = unique("K")
    assert env.post(email_event(number, "Rui Costa")) == 200
    assert env.standins[SHOP].writes.counts.get("customerSet", 0) == before
    order = next(o for o in env.orders() if o["source_identifier"].endswith(f":{number}"))
    assert order["customer"]["phone"] == PHONE


def test_an_echo_that_comes_before_the_timeout_settles_the_create(env: Env) -> None:
    """Shopify sends ``orders/create`` as soon as the order exists, often before our request
    gives up waiting for the answer; the timeout must not undo what the echo recorded."""
    import threading

    writes = env.standins[SHOP].writes
    writes.faults["orderCreate"] = ["slow:4"]
    writes.faults["orders"] = ["lag:30"]
    event = form_order()
    order_id = event["entity_id"]
    outcome: list[BaseException | None] = []

    def first_delivery() -> None:
        try:
            sync.handle(event, env.deps(timeout=3.0))
            outcome.append(None)
        except BaseException as exc:  # reported below
            outcome.append(exc)

    delivery = threading.Thread(target=first_delivery)
    delivery.start()
    deadline = time.monotonic() + 3
    while not env.orders() and time.monotonic() < deadline:
        time.sleep(0.05)
    [created] = env.orders()
    echo = {
        **event,
        "event_id": unique("echo"),
        "event_type": "order.updated",
        "entity": {**event["entity"], "shopify_order_id": str(created["id"])},
    }
    sync.handle(echo, env.deps())  # the echo, while the create still waits for its answer
    delivery.join()
    assert outcome == [None]  # settled by the echo: no retry needed
    status = env.status(order_id)
    assert status["status"] == "synced", status
    assert "confirmed by Shopify's webhook" in status["reason"]
    sync.handle({**event, "event_id": unique("ev")}, env.deps())  # a redelivery: nothing
    assert len(env.orders()) == 1 and writes.counts["orderCreate"] == 1
    assert env.status(order_id)["status"] == "synced"
