"""Issue 15, the inbound direction (Shopify -> CRM) on the emulators: a shop's switch holds
its Shopify orders out of the CRM without losing them, and ``scripts/resync --inbound``
brings them in once it is on again; reconciliation runs per shop, each with its own Admin
API, token and cursor, and a run with no shop named goes through every shop without
crossing them."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from functions_framework import create_app
from google.cloud import firestore

from devstack.shopify_sender import fixture, headers
from orderhub.event import Event, decode
from orderhub.shopify_sync.cli import resync_main
from orderhub.stores import FirestoreCursors
from orderhub.switches import FirestoreSwitches, Switches
from tests.conftest import ROOT, Crm, Topic, clear_caches, cloud_event, post_cloud_event, unique

SHOP, OTHER_SHOP = "inbound-a.myshopify.com", "inbound-b.myshopify.com"
SECRET, TOKEN = "inbound-secret", "shpat_inbound_test"


def recent_order(minutes_ago: int = 5) -> dict[str, Any]:
    stamp = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)
    return {
        **fixture("order"),
        "id": random.randrange(10**15, 10**16),
        "created_at": stamp.isoformat(),
        "updated_at": stamp.isoformat(),
    }


def switch(shop: str, **assignments: str) -> None:
    store = FirestoreSwitches(
        firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"]),
        os.environ["FIRESTORE_PREFIX"] + "sync_settings",
    )
    store.put(shop, store.get(shop).changed(assignments))


class Pipeline:
    """The webhook and crm_writer as functions-framework apps; the topic between them."""

    def __init__(self, topic: Topic, crm: Crm) -> None:
        self.topic, self.crm = topic, crm
        main = str(ROOT / "functions" / "main.py")
        self.webhook = create_app("shopify_webhook", main, "http").test_client()
        self.writer = create_app("crm_writer", main, "cloudevent").test_client()

    def send(self, topic: str, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload).encode()
        return self.webhook.post(
            "/", data=body, headers=headers(shop=SHOP, secret=SECRET, topic=topic, body=body)
        )

    def deliver(self, expect: int) -> list[Event]:
        """What was published, handed to crm_writer as Pub/Sub would."""
        messages = self.topic.pull(expect=expect)
        assert len(messages) == expect, [decode(m.data)["event_type"] for m in messages]
        for message in messages:
            assert post_cloud_event(self.writer, cloud_event(message.data)).status_code == 200
        return [decode(m.data) for m in messages]

    def orders(self, order_id: str) -> list[dict[str, Any]]:
        return self.crm.query("SELECT order_id FROM {ds}.orders WHERE order_id = @id", id=order_id)

    def inbound_status(self, record_id: str) -> dict[str, Any]:
        rows = self.crm.query(
            "SELECT status, reason FROM {ds}.sync_status WHERE direction = 'inbound'"
            " AND shop = @s AND record_id = @r",
            s=SHOP,
            r=record_id,
        )
        assert len(rows) == 1, rows
        return rows[0]


@pytest.fixture
def pipeline(emulators: dict[str, str], crm: Crm, topic: Topic) -> Pipeline:
    os.environ.update(
        ORDER_EVENTS_TOPIC=topic.name,
        SHOPIFY_WEBHOOK_SECRETS=json.dumps({SHOP: SECRET}),
        FIRESTORE_PREFIX=unique("inbound") + "-",
    )
    clear_caches()
    return Pipeline(topic, crm)


def test_orders_switched_off_are_kept_out_of_the_crm_then_resync_brings_them_in(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    switch(SHOP, **{"inbound.orders": "off"})
    order, customer = recent_order(), {**fixture("customer"), "id": random.randrange(10**12)}
    order_id = str(order["id"])

    held = pipeline.send("orders/create", order)
    taken = pipeline.send("customers/create", customer)
    assert (held.status_code, held.text.strip()) == (200, "held")
    assert (taken.status_code, taken.text.strip()) == (200, "accepted")
    pipeline.deliver(expect=2)

    # Not in the CRM, but nothing lost: the payload verbatim, and a status with the reason.
    assert pipeline.orders(order_id) == []
    customers = "SELECT customer_id FROM {ds}.customers WHERE customer_id = @id"
    assert pipeline.crm.query(customers, id=str(customer["id"]))  # customers stayed on
    bodies = pipeline.crm.query("SELECT body FROM {ds}.raw_events WHERE shop = @s", s=SHOP)
    assert any(order_id in (row["body"] or "") for row in bodies)
    status = pipeline.inbound_status(order_id)
    assert status["status"] == "skipped" and status["reason"].startswith("switched off")

    # While the switch is still off, resync leaves it held.
    argv = ["--shop", SHOP, "--inbound"]
    assert resync_main(argv) == 0
    assert "0 held event(s) sent into the CRM; 1 still switched off" in capsys.readouterr().out
    assert pipeline.topic.pull(expect=0, timeout=1.0) == []

    switch(SHOP, **{"inbound.orders": "on"})
    assert resync_main(argv) == 0
    assert "1 held event(s) sent into the CRM" in capsys.readouterr().out
    (released,) = pipeline.deliver(expect=1)
    assert released["entity_id"] == order_id and released["origin"] == "catch-up"
    assert pipeline.orders(order_id) == [{"order_id": order_id}]
    assert pipeline.inbound_status(order_id)["status"] == "synced"

    # Done once: nothing is left to bring in.
    assert resync_main(argv) == 0
    assert "0 held event(s) sent into the CRM; 0 still switched off" in capsys.readouterr().out


# ------------------------------------------------------------------ several shops
@pytest.fixture
def two_shops(emulators: dict[str, str], crm: Crm, topic: Topic) -> Iterator[dict[str, Any]]:
    from devstack.standins.shopify_admin import ShopifyAdminStandIn

    standins = {
        shop: ShopifyAdminStandIn(token=TOKEN, shop=shop).start() for shop in (SHOP, OTHER_SHOP)
    }
    os.environ.update(
        ORDER_EVENTS_TOPIC=topic.name,
        FIRESTORE_PREFIX=unique("recon") + "-",
        SHOPIFY_ADMIN_TOKENS=json.dumps(dict.fromkeys(standins, TOKEN)),
        SHOPIFY_ADMIN_URLS=json.dumps({shop: s.url for shop, s in standins.items()}),
        SYNC_SETTINGS_CACHE_SECONDS="0",
    )
    for name in ("SHOPIFY_ADMIN_TOKEN", "SHOPIFY_ADMIN_URL", "SHOPIFY_SHOP_DOMAIN"):
        os.environ.pop(name, None)
    clear_caches()
    yield standins
    for standin in standins.values():
        standin.stop()


def orders_published(topic: Topic) -> dict[str, list[Event]]:
    """The order events published so far, by shop."""
    found: dict[str, list[Event]] = {}
    for message in topic.pull(expect=100, timeout=3.0):
        event = decode(message.data)
        if event["entity_type"] == "order":
            found.setdefault(event["shop"], []).append(event)
    return found


def test_reconcile_runs_per_shop_with_its_own_token_and_cursor_and_all_shops_by_default(
    two_shops: dict[str, Any], topic: Topic
) -> None:
    a, b = recent_order(), recent_order()
    two_shops[SHOP].shop.put_order(a)
    two_shops[OTHER_SHOP].shop.put_order(b)
    client = create_app(
        "shopify_reconcile", str(ROOT / "functions" / "main.py"), "http"
    ).test_client()

    one = client.post(f"/?shop={SHOP.upper()}")
    assert one.status_code == 200, one.get_data(as_text=True)
    assert one.get_json()["shops"] == [SHOP]
    published = orders_published(topic)
    assert list(published) == [SHOP]
    assert {e["entity_id"] for e in published[SHOP]} == {str(a["id"])}
    cursors = FirestoreCursors(
        firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"]),
        os.environ["FIRESTORE_PREFIX"] + "sync_cursors",
    )
    assert cursors.get(SHOP, "orders") is not None
    assert cursors.get(OTHER_SHOP, "orders") is None

    switch(OTHER_SHOP, **{"inbound.orders": "off"})
    every = client.post("/")  # the scheduled run: every configured shop
    assert every.status_code == 200, every.get_data(as_text=True)
    assert sorted(every.get_json()["shops"]) == [SHOP, OTHER_SHOP]
    assert {s["shop"] for s in every.get_json()["reconciled"]} == {SHOP, OTHER_SHOP}
    published = orders_published(topic)
    assert {e["entity_id"] for e in published[OTHER_SHOP]} == {str(b["id"])}
    assert {e["entity_id"] for e in published.get(SHOP, [])} <= {str(a["id"])}
    assert all("hold" in e for e in published[OTHER_SHOP])  # B switched its orders off
    assert not any("hold" in e for e in published.get(SHOP, []))
    assert cursors.get(OTHER_SHOP, "orders") is not None

    unknown = client.post("/?shop=stranger.myshopify.com")
    assert unknown.status_code == 400 and "SHOPIFY_ADMIN_TOKENS" in unknown.get_json()["error"]


# ------------------------------------------------------------------ privacy
class NoDocuments:
    def null_fields_holding(self, needles: Any) -> int:
        return 0


def test_a_customers_redact_erases_the_held_copies_of_their_order_and_customer(
    emulators: dict[str, str], crm: Crm
) -> None:
    from orderhub import inbound
    from orderhub.privacy_erase.erasure import REDACT, Request, erase_customer
    from orderhub.privacy_erase.warehouse import BigQueryWarehouse
    from orderhub.sinks.bigquery import BigQueryInserter, write_event
    from orderhub.sources import shopify

    email = f"held.{random.randrange(10**9)}@example.com"
    order = {**recent_order(), "email": email}
    order["customer"] = {**order["customer"], "id": 77001, "email": email}
    customer = {**fixture("customer"), "id": 77001, "email": email}
    switches = Switches().changed({"inbound.orders": "off", "inbound.customers": "off"})
    inserter = BigQueryInserter(crm.client, crm.dataset)
    for topic, payload in (("orders/create", order), ("customers/create", customer)):
        body = json.dumps(payload).encode()
        now = datetime.now(UTC)
        delivery = shopify.Delivery(topic, SHOP, unique("wh"), None, None, now)
        raw = {
            "raw_id": unique("raw"),
            "kind": "shopify_webhook",
            "received_at": now.isoformat(),
            "sha256": "0",
            "body": body.decode(),
            "meta": {"topic": topic},
        }
        event = inbound.hold(shopify.normalise(delivery, body, raw), switches)  # type: ignore[arg-type]
        write_event(event, inserter=inserter, now=lambda: datetime.now(UTC))
    held = "SELECT COUNT(*) AS n FROM {ds}.sync_log WHERE held_event IS NOT NULL"
    assert crm.query(held) == [{"n": 2}]

    request = Request("req-1", REDACT, SHOP, "77001", (str(order["id"]),), None)
    outcome = erase_customer(
        request, warehouse=BigQueryWarehouse(crm.client, crm.dataset), documents=NoDocuments()
    )

    assert outcome.erased.get("sync_log") == 2
    assert crm.query(held) == [{"n": 0}]
    assert outcome.erased.get("raw_events") == 2  # their payloads too
    bodies = "SELECT COUNT(*) AS n FROM {ds}.raw_events WHERE STRPOS(body, @e) > 0"
    assert crm.query(bodies, e=email) == [{"n": 0}]
    assert outcome.not_erased == {}
