"""shopify_sync on the emulators (Firestore links, BigQuery sync_log, Pub/Sub alerts) against
the Shopify stand-in over real HTTP: orders into Shopify exactly once, the fault cases of
issue 15, switches and resync, customers and consent, two shops side by side."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from orderhub import gcp
from orderhub.errors import TransientError
from orderhub.event import Event, encode
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.writer import PacedThrottle, ShopifyWriter
from orderhub.shopify_sync import sync
from orderhub.sinks.bigquery import BigQueryInserter, write_event
from orderhub.sources import manual
from orderhub.switches import FirestoreSwitches
from tests.conftest import Crm, Topic, clear_caches, cloud_event, post_cloud_event, unique

SHOP = "sync-a.myshopify.com"
OTHER_SHOP = "sync-b.myshopify.com"
TOKEN = "shpat_sync_test"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def seed_products(standin: Any) -> None:
    standin.shop.put_product(
        {
            "id": 7001,
            "title": "Ceramic mug",
            "updated_at": "2026-11-01T00:00:00Z",
            "variants": [
                {
                    "id": 8001,
                    "sku": "MUG-1",
                    "title": "Blue",
                    "price": "12.00",
                    "inventory_quantity": 10,
                }
            ],
        }
    )


class Env:
    def __init__(self, client: Any, crm: Crm, topic: Topic, standins: dict[str, Any]) -> None:
        self.client, self.crm, self.topic, self.standins = client, crm, topic, standins

    def post(self, event: Event) -> int:
        return int(post_cloud_event(self.client, cloud_event(encode(event))).status_code)

    def orders(self, shop: str = SHOP) -> list[dict[str, Any]]:
        return list(self.standins[shop].writes.orders.values())

    def status(self, record_id: str, entity: str = "order", shop: str = SHOP) -> dict[str, Any]:
        rows = self.crm.query(
            "SELECT * FROM {ds}.sync_status WHERE record_id = @r AND entity = @e AND shop = @s",
            r=record_id,
            e=entity,
            s=shop,
        )
        assert len(rows) == 1, rows
        return rows[0]

    def switches(self, shop: str, **assignments: str) -> None:
        from google.cloud import firestore

        store = FirestoreSwitches(
            firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"]),
            os.environ["FIRESTORE_PREFIX"] + "sync_settings",
        )
        store.put(shop, store.get(shop).changed(assignments))

    def deps(self, *, timeout: float = 10.0, sleep: Any = None, now: Any = None) -> sync.Deps:
        """The function's own wiring, with a writer of our choosing (timeout, clock)."""
        from orderhub.shopify_sync import wiring

        base = wiring.deps()

        def writer(shop: str) -> ShopifyWriter:
            admin = ShopifyAdmin(
                base_url=self.standins[shop].url,
                access_token=TOKEN,
                session=requests.Session(),
                timeout=timeout,
            )
            return ShopifyWriter(admin.response, PacedThrottle(sleep=sleep or (lambda s: None)))

        return sync.Deps(
            writer=writer,
            links=base.links,
            switches=base.switches,
            rate=base.rate,
            log=base.log,
            alerts=base.alerts,
            now=now or base.now,
            sleep=sleep or (lambda s: None),
            lease=base.lease,
        )


@pytest.fixture
def env(emulators: dict[str, str], crm: Crm, topic: Topic) -> Iterator[Env]:
    from functions_framework import create_app

    from devstack.standins.shopify_admin import ShopifyAdminStandIn

    standins = {
        shop: ShopifyAdminStandIn(token=TOKEN, shop=shop).start() for shop in (SHOP, OTHER_SHOP)
    }
    for standin in standins.values():
        seed_products(standin)
    os.environ.update(
        FIRESTORE_PREFIX=unique("sync") + "-",
        ORDER_EVENTS_TOPIC=topic.name,
        SHOPIFY_ADMIN_TOKENS=json.dumps(dict.fromkeys(standins, TOKEN)),
        SHOPIFY_ADMIN_URLS=json.dumps({shop: s.url for shop, s in standins.items()}),
        SHOPIFY_SYNC_LEASE_SECONDS="30",
    )
    for name in ("SHOPIFY_ADMIN_TOKEN", "SHOPIFY_ADMIN_URL", "SHOPIFY_SHOP_DOMAIN"):
        os.environ.pop(name, None)
    clear_caches()
    app = create_app(target="shopify_sync", source="functions/main.py", signature_type="cloudevent")
    env = Env(app.test_client(), crm, topic, standins)
    on = {f"outbound.{entity}": "on" for entity in ("orders", "customers", "consent")}
    for shop in standins:  # off until the shop's owner switches it on
        env.switches(shop, **on)
    yield env
    for standin in standins.values():
        standin.stop()


def form_order(
    shop: str = SHOP,
    *,
    token: str | None = None,
    phone: str = "+351912345678",
    name: str = "Ana Silva",
    email: str | None = "ana@example.com",
    lines: tuple[manual.Line, ...] | None = None,
) -> Event:
    order = manual.ManualOrder(
        lines=lines
        or (
            manual.Line("Ceramic mug", 2, Decimal("11.50"), sku="MUG-1"),
            manual.Line("Gift wrap", 1, Decimal("2.00"), sku="WRAP-X"),
        ),
        currency="EUR",
        customer_name=name,
        phone=phone,
        email=email,
        address="Rua Augusta 10, Lisboa",
        delivery_method="courier",
        note="ring twice",
        channel="phone",
    )
    return manual.order_event(
        order, manager="maria", form_token=token or unique("tok"), shop=shop, at=AT
    )


def email_order(number: str, shop: str = SHOP) -> Event:
    event = form_order(shop)
    entity = {**event["entity"], "order_id": number, "name": f"#{number}", "manager": None}
    entity["tags"] = ["email", "kiire"]
    return {
        **event,
        "source": "email:kiire",
        "entity_id": number,
        "entity": entity,
        "event_id": unique("ev"),
    }


# ------------------------------------------------------------------ the order push
def test_form_order_becomes_one_shopify_order_with_stock_decremented(env: Env) -> None:
    event = form_order()
    assert env.post(event) == 200
    [order] = env.orders()
    order_id = event["entity_id"]
    assert order["source_identifier"] == f"orderhub:manual:{order_id}"
    assert order["processed_at"] == "2026-11-20T09:30:00.000Z"  # the order's own time
    assert {"orderhub", "orderhub-source:manual", "manager:maria", "channel:phone"} <= {
        t.strip() for t in order["tags"].split(",")
    }
    assert {"name": "orderhub_order_id", "value": order_id} in order["note_attributes"]
    assert order["inventory_behaviour"] == "DECREMENT_OBEYING_POLICY"
    assert order["send_receipt"] is False
    assert order["total_price"] == "25.00" and order["currency"] == "EUR"
    mug, wrap = order["line_items"]
    assert (mug["variant_id"], mug["quantity"], mug["price"]) == (8001, 2, "11.50")
    assert (wrap["variant_id"], wrap["title"], wrap["sku"]) == (None, "Gift wrap", "WRAP-X")
    variant = env.standins[SHOP].shop.nodes["products"]["gid://shopify/Product/7001"]["variants"][0]
    assert variant["inventoryQuantity"] == 8
    assert order["shipping_address"]["address1"] == "Rua Augusta 10, Lisboa"
    assert order["customer"]["phone"] == "+351912345678"

    status = env.status(order_id)
    assert status["status"] == "synced"
    assert status["shopify_id"] == order["admin_graphql_api_id"]
    assert "variant not found for SKU WRAP-X" in status["reason"]

    assert env.post(event) == 200  # redelivered
    assert len(env.orders()) == 1
    assert env.standins[SHOP].writes.counts["orderCreate"] == 1


def test_nothing_is_written_into_a_shop_until_it_is_switched_on(env: Env) -> None:
    env.switches(SHOP, **{"outbound.orders": "off"})
    event = form_order()
    assert env.post(event) == 200
    assert env.orders() == []
    status = env.status(event["entity_id"])
    assert status["status"] == "skipped"
    assert status["reason"] == "switched off: orders are not sent to Shopify (outbound.orders)"


def test_shopify_events_are_never_written_back(env: Env) -> None:
    event = {**form_order(), "source": "shopify"}
    assert env.post(event) == 200
    assert env.orders() == []
    assert env.crm.query("SELECT * FROM {ds}.sync_log") == []


def test_same_event_twice_concurrently_is_one_order(env: Env) -> None:
    event = form_order()
    deps = env.deps()
    outcomes: list[str] = []

    def deliver() -> None:
        try:
            sync.handle(event, deps)
            outcomes.append("ok")
        except TransientError:
            outcomes.append("retry")

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["ok", "retry"], ["ok", "ok"])
    if "retry" in outcomes:  # Pub/Sub redelivers the one that found the write in progress
        sync.handle(event, deps)
    assert len(env.orders()) == 1
    assert env.status(event["entity_id"])["status"] == "synced"


def test_timeout_after_shopify_created_the_order_still_one_order(env: Env) -> None:
    event = form_order()
    env.standins[SHOP].writes.faults["orderCreate"] = ["slow:1.5"]
    with pytest.raises(TransientError):
        sync.handle(event, env.deps(timeout=0.5))  # Shopify created it; we never heard
    assert len(env.orders()) == 1
    assert env.status(event["entity_id"])["status"] == "waiting"

    sync.handle(event, env.deps())  # Pub/Sub's redelivery
    assert len(env.orders()) == 1
    status = env.status(event["entity_id"])
    assert status["status"] == "synced"
    assert status["shopify_id"] == env.orders()[0]["admin_graphql_api_id"]
    assert "found in Shopify" in status["reason"]


class CrashAfterShopify:
    """Links whose first record of a Shopify id dies with the process."""

    def __init__(self, links: Any) -> None:
        self.links, self.crashed = links, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.links, name)

    def finish(self, key: str, state: str, fields: dict[str, Any], *, now: datetime) -> None:
        if state == "sent" and not self.crashed:
            self.crashed = True
            raise SystemExit("the instance died")
        self.links.finish(key, state, fields, now=now)


def test_crash_between_shopify_answer_and_the_record_is_not_a_second_order(env: Env) -> None:
    event = form_order()
    deps = env.deps()
    deps.links = CrashAfterShopify(deps.links)
    with pytest.raises(SystemExit):
        sync.handle(event, deps)
    assert len(env.orders()) == 1

    with pytest.raises(TransientError):  # redelivered at once: the dead claim's lease runs
        sync.handle(event, env.deps())
    later = env.deps(now=lambda: datetime.now(UTC) + timedelta(minutes=5))
    sync.handle(event, later)  # after the lease: taken over, looked up, found
    assert len(env.orders()) == 1
    assert env.status(event["entity_id"])["status"] == "synced"


def test_throttled_bucket_waits_and_retries_then_one_order(env: Env) -> None:
    bucket = env.standins[SHOP].shop
    slept = [0.0]
    bucket.refill_by(lambda: slept[0])  # only the client's waits refill it, however slow the run
    bucket.available, bucket.restore_rate = 0.0, 40.0
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        import time

        waits.append(seconds)
        slept[0] += seconds
        time.sleep(seconds)

    sync.handle(form_order(), env.deps(sleep=sleep))
    assert len(env.orders()) == 1
    assert waits and all(w < 2 for w in waits)  # paced by the returned cost figures


def test_bucket_that_stays_empty_is_waiting_with_reason_then_catches_up(env: Env) -> None:
    bucket = env.standins[SHOP].shop
    bucket.available, bucket.restore_rate = 0.0, 0.0
    event = form_order()
    with pytest.raises(TransientError):
        sync.handle(event, env.deps())  # sleeps are no-ops: Shopify keeps answering THROTTLED
    status = env.status(event["entity_id"])
    assert (status["status"], status["reason"]) == ("waiting", "Shopify throttled, retrying")
    assert env.orders() == []
    bucket.available, bucket.restore_rate = 1000.0, 50.0
    assert env.post(event) == 200
    assert len(env.orders()) == 1


def test_a_taken_phone_of_someone_else_is_a_clear_conflict_and_one_alert(env: Env) -> None:
    writer = env.deps().writer(SHOP)
    other = writer.customer_set(
        {"phone": "+351912345678"},
        {"phone": "+351912345678", "firstName": "Rui", "lastName": "Costa"},
    )
    event = form_order(email="ana@example.com")
    assert env.post(event) == 200
    status = env.status("ana@example.com", "customer")
    assert status["status"] == "failed" and status["error_code"] == "TAKEN"
    number = other.id.rsplit("/", 1)[-1]
    assert status["reason"].startswith(f"phone +351912345678 already belongs to customer {number}")
    assert len(env.orders()) == 1  # the order itself still goes in, without that customer
    assert env.orders()[0]["customer"] is None
    alerts = [json.loads(m.data) for m in env.topic.pull(expect=1)]
    assert [a["entity"]["kind"] for a in alerts] == ["shopify_sync"]
    assert "already belongs to customer" in alerts[0]["entity"]["reason"]

    assert env.post(form_order(email="ana@example.com")) == 200  # another order, same person
    again = [json.loads(m.data) for m in env.topic.pull(expect=1)]
    # The same alert (same event id): the notifier's claim per event tells each manager once.
    assert [a["event_id"] for a in again] == [alerts[0]["event_id"]]


def test_a_taken_phone_of_the_same_person_is_merged(env: Env) -> None:
    writer = env.deps().writer(SHOP)
    same = writer.customer_set(
        {"phone": "+351912345678"},
        {"phone": "+351912345678", "firstName": "Ana", "lastName": "Silva"},
    )
    assert env.post(form_order(email="ana@example.com")) == 200
    status = env.status("ana@example.com", "customer")
    assert status["status"] == "synced" and "merged into customer" in status["reason"]
    [customer] = env.standins[SHOP].writes.customers.values()
    assert customer["id"] == same.id and customer["email"] == "ana@example.com"
    assert env.orders()[0]["customer"]["id"] == int(same.id.rsplit("/", 1)[-1])


def test_an_unchanged_customer_is_not_written_again(env: Env) -> None:
    assert env.post(form_order()) == 200
    assert env.post(form_order()) == 200
    assert env.standins[SHOP].writes.counts["customerSet"] == 1
    assert len(env.orders()) == 2


def test_consent_goes_with_its_time_and_never_overrules_a_newer_decision(env: Env) -> None:
    event = form_order()
    event["entity"]["customer"]["email_marketing_consent"] = {
        "state": "subscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2026-11-20T09:29:00Z",
    }
    assert env.post(event) == 200
    [customer] = env.standins[SHOP].writes.customers.values()
    assert customer["emailMarketingConsent"]["marketingState"] == "SUBSCRIBED"
    assert customer["emailMarketingConsent"]["consentUpdatedAt"] == "2026-11-20T09:29:00Z"
    # The customer unsubscribes in Shopify later; the CRM's older decision comes again.
    customer["emailMarketingConsent"] = {
        "marketingState": "UNSUBSCRIBED",
        "marketingOptInLevel": "SINGLE_OPT_IN",
        "consentUpdatedAt": "2026-11-25T10:00:00Z",
    }
    again = form_order()
    again["entity"]["customer"]["email_marketing_consent"] = event["entity"]["customer"][
        "email_marketing_consent"
    ]
    assert env.post(again) == 200
    assert customer["emailMarketingConsent"]["marketingState"] == "UNSUBSCRIBED"
    assert env.standins[SHOP].writes.counts.get("customerEmailMarketingConsentUpdate") == 1


# ---------------------------------------------------------- switches and resync
def test_email_orders_switched_off_are_skipped_then_resync_catches_up(env: Env) -> None:
    from orderhub.shopify_sync.resync import Selection, pending, resend

    env.switches(SHOP, **{"sources.email:*": "off"})
    events = [email_order(unique("K")) for _ in range(2)]
    form = form_order()
    client = gcp.bigquery_client(
        os.environ["GOOGLE_CLOUD_PROJECT"], os.environ["BIGQUERY_EMULATOR_HOST"]
    )
    inserter = BigQueryInserter(client, env.crm.dataset)
    for event in [*events, form]:
        assert env.post(event) == 200
        # crm_writer's part, so resync can find the orders
        write_event(event, inserter=inserter, now=lambda: datetime.now(UTC))
    assert [o["source_identifier"] for o in env.orders()] == [
        f"orderhub:manual:{form['entity_id']}"
    ]
    for event in events:
        status = env.status(event["entity_id"])
        assert status["status"] == "skipped"
        assert (
            status["reason"] == "switched off: orders from e-mail (kiire) are not sent to Shopify"
        )

    env.switches(SHOP, **{"sources.email:*": "on"})
    rows = pending(client, env.crm.dataset, Selection(shop=SHOP, source="email:kiire"))
    assert sorted(r["order_id"] for r in rows) == sorted(e["entity_id"] for e in events)

    class Direct:  # what Pub/Sub would push to the function
        def publish(self, event: Event) -> str:
            assert env.post(event) == 200
            return "1"

    resend(rows, Direct())
    assert len(env.orders()) == 3
    assert all(env.status(e["entity_id"])["status"] == "synced" for e in events)
    assert pending(client, env.crm.dataset, Selection(shop=SHOP, source="email:kiire")) == []


def test_crm_cancellation_cancels_the_shopify_order_and_restocks(env: Env) -> None:
    event = form_order()
    assert env.post(event) == 200
    cancelled = {
        **event,
        "event_type": "order.cancelled",
        "event_id": unique("ev"),
        "entity": {
            **event["entity"],
            "cancelled_at": "2026-11-21T10:00:00Z",
            "cancel_reason": "customer",
        },
    }
    assert env.post(cancelled) == 200
    assert env.post(cancelled) == 200  # redelivered: cancelled once
    [order] = env.orders()
    assert order["cancelled_at"] and order["cancel_reason"] == "customer"
    assert env.standins[SHOP].writes.counts["orderCancel"] == 1
    variant = env.standins[SHOP].shop.nodes["products"]["gid://shopify/Product/7001"]["variants"][0]
    assert variant["inventoryQuantity"] == 10
    assert env.status(event["entity_id"], "order_cancel")["status"] == "synced"


# ------------------------------------------------------------------ several shops
def test_two_shops_side_by_side_do_not_cross(env: Env) -> None:
    env.switches(OTHER_SHOP, **{"sources.manual": "off"})
    token = unique("tok")
    a, b = form_order(SHOP, token=token), form_order(OTHER_SHOP, token=token)
    c = email_order("K-1", SHOP)
    d = email_order("K-1", OTHER_SHOP)
    for event in (a, b, c, d):
        assert env.post(event) == 200
    assert sorted(o["source_identifier"] for o in env.orders(SHOP)) == sorted(
        [f"orderhub:manual:{a['entity_id']}", "orderhub:email:kiire:K-1"]
    )
    assert [o["source_identifier"] for o in env.orders(OTHER_SHOP)] == ["orderhub:email:kiire:K-1"]
    assert env.status(b["entity_id"], shop=OTHER_SHOP)["status"] == "skipped"
    assert env.status(a["entity_id"], shop=SHOP)["status"] == "synced"
    assert (
        env.status("K-1", shop=SHOP)["shopify_id"]
        != env.status("K-1", shop=OTHER_SHOP)["shopify_id"]
    )


def test_trial_shop_order_rate_holds_the_backlog_back_without_refusals(env: Env) -> None:
    env.switches(SHOP, orders_per_minute="5")
    env.standins[SHOP].writes.orders_per_minute = 5  # what Shopify allows a trial shop
    first, second = form_order(), form_order()
    deps = env.deps()
    deps.max_rate_wait = 0.0
    sync.handle(first, deps)
    with pytest.raises(TransientError):  # the next slot is 12 s away: Pub/Sub brings it back
        sync.handle(second, deps)
    status = env.status(second["entity_id"])
    assert (status["status"], status["reason"]) == (
        "waiting",
        "waiting for Shopify's order rate (5 a minute)",
    )
    assert env.standins[SHOP].writes.refused.get("orderCreate") is None  # nothing bounced
    later = env.deps(now=lambda: datetime.now(UTC) + timedelta(seconds=13))
    later.max_rate_wait = 0.0
    env.standins[SHOP].writes.orders_per_minute = 0  # the stand-in's minute has passed too
    sync.handle(second, later)
    assert len(env.orders()) == 2


# ----------------------------------------------------------- customers of other sources
def customer_event(**entity: Any) -> Event:
    from orderhub.event import make_event

    base = {"customer_id": unique("c"), "name": "Lia Costa", "email": "lia@example.com"}
    return make_event(
        event_type="customer.upserted",
        source="chatbot",
        shop=SHOP,
        occurred_at=AT,
        version=1,
        entity_id=base["customer_id"],
        entity={**base, **entity},
    )


def test_a_chat_contact_with_consent_becomes_a_shopify_customer(env: Env) -> None:
    consent = {"state": "subscribed", "consent_updated_at": "2026-11-20T09:00:00Z"}
    assert env.post(customer_event(phone="+351936112233", sms_marketing_consent=consent)) == 200
    [customer] = env.standins[SHOP].writes.customers.values()
    assert (customer["email"], customer["phone"]) == ("lia@example.com", "+351936112233")
    assert customer["addresses"] == []  # no list field sent
    assert customer["smsMarketingConsent"]["marketingState"] == "SUBSCRIBED"
    assert env.status("lia@example.com", "sms_consent")["status"] == "synced"


def test_customer_filters_tag_and_consent(env: Env) -> None:
    env.switches(SHOP, customer_tag="vip", consent_required="on")
    assert env.post(customer_event(tags=["regular"])) == 200
    assert env.status("lia@example.com", "customer")["reason"] == (
        "filtered: customer lacks the tag vip"
    )
    assert env.post(customer_event(tags=["vip"])) == 200
    assert env.status("lia@example.com", "customer")["reason"] == (
        "filtered: only customers with marketing consent are sent"
    )
    assert env.standins[SHOP].writes.customers == {}


# ------------------------------------------------------------------ operator scripts
def test_sync_settings_script_shows_and_changes_a_shops_switches(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    from orderhub.shopify_sync import cli

    assert (
        cli.settings_main(["--shop", SHOP, "set", "sources.email:*=off", "orders_per_minute=5"])
        == 0
    )
    capsys.readouterr()
    assert cli.settings_main(["--shop", SHOP, "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["sources"]["email:*"] is False and shown["orders_per_minute"] == 5
    assert shown["outbound"]["orders"] is True  # the fixture's switch, kept
    event = email_order(unique("K"))
    assert env.post(event) == 200  # the consumer reads the document on its next event
    assert env.status(event["entity_id"])["status"] == "skipped"
    with pytest.raises(SystemExit):
        cli.settings_main(["--shop", SHOP, "set", "outbound.refunds=on"])


def test_a_refused_token_is_waiting_with_the_reason_and_retried(env: Env) -> None:
    env.standins[SHOP].token = "shpat_revoked"
    event = form_order()
    assert env.post(event) == 500  # raised: Pub/Sub redelivers (and dead-letters in the end)
    status = env.status(event["entity_id"])
    assert status["status"] == "waiting"
    assert status["reason"].startswith("Shopify refused our access: Shopify Admin API answered 401")
    env.standins[SHOP].token = TOKEN
    assert env.post(event) == 200
    assert len(env.orders()) == 1
