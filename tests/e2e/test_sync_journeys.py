"""Issue 19, item 7: the two-way sync where its pieces meet, on the running stack, one test
per journey. Each journey ends with the same checks: one row in the ``orders`` view for the
order, one Shopify order in the stand-in, one message per manager (the ManyChat stand-in),
the refunds on the CRM order where there are any, and ``sync_status`` in plain words.

(a) an e-mail order goes to Shopify, comes back as the echo, through reconciliation, as a
    Shopify refund and as a Shopify cancellation (the merchant's ``orderCancel``);
(b) a form order with a chat contact goes through the echo, reconciliation and backfill and
    keeps its contact;
(c) a storefront order carrying the attributes of an existing CRM order does not take it over;
(d) ``orderCreate`` times out while the search index lags 30 s, and the same event is
    delivered twice: one Shopify order;
(e) inbound orders held (switch off), a release that stops halfway, then a second release.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devstack.shopify_sender import fixture, send
from devstack.stack import MAX_BACKOFF_SECONDS
from tests.conftest import Crm, unique
from tests.e2e.conftest import signed_in
from tests.e2e.test_gmail_to_crm import dev_mail
from tests.e2e.test_order_form_stack import new_order, order_number
from tests.e2e.test_sync_stack import shopify_orders, writes
from tests.e2e.test_sync_stack import sync_on as sync_on  # the fixture
from tests.manychat import StandIn, new_subscriber_id

API_VERSION = "2026-10"


# ------------------------------------------------------------------------ helpers
def stamp(minutes_ago: float = 0.0) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


def eventually(check: Callable[[], bool], timeout: float = 45.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def stays(check: Callable[[], bool], seconds: float = 4.0) -> bool:
    """``check()`` keeps holding for ``seconds`` (a late duplicate would break it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.5)
    return True


def graphql(stack: dict[str, str], query: str, **variables: Any) -> dict[str, Any]:
    """The stand-in's Admin GraphQL, as the merchant's admin (or another app) calls it."""
    answer = requests.post(
        f"{stack['SHOPIFY_ADMIN_URL']}/admin/api/{API_VERSION}/graphql.json",
        json={"query": query, "variables": variables},
        headers={"X-Shopify-Access-Token": stack["SHOPIFY_ADMIN_TOKEN"]},
        timeout=20,
    )
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    assert not body.get("errors"), body
    return body["data"]


def webhook(
    stack: dict[str, str], topic: str, payload: dict[str, Any], shop: str | None = None
) -> str:
    response = send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=shop or stack["SHOPIFY_SHOP_DOMAIN"],
        secret=stack["SHOPIFY_API_SECRET"],
        topic=topic,
        payload=payload,
    )
    assert response.status_code == 200, response.text
    return response.text.strip()


def reconcile(stack: dict[str, str]) -> None:
    response = requests.post(stack["SHOPIFY_RECONCILE_URL"], timeout=120)
    assert response.status_code == 200, response.text


def seed(stack: dict[str, str], order: dict[str, Any]) -> None:
    """An order that exists in the shop (a storefront checkout), as reads see it."""
    response = requests.post(
        f"{stack['SHOPIFY_ADMIN_URL']}/_standin/shop/orders", json=order, timeout=10
    )
    assert response.status_code == 201


def fault(stack: dict[str, str], field: str, spec: str) -> None:
    response = requests.post(
        f"{stack['SHOPIFY_ADMIN_URL']}/_standin/fault",
        json={"field": field, "fault": spec},
        timeout=10,
    )
    assert response.status_code == 201


def rows(crm: Crm, shop: str, order_id: str) -> list[dict[str, Any]]:
    return crm.query(
        "SELECT order_id, source, shop, name, status, total, refunded, cancelled_at,"
        " shopify_order_id, attribution.contact_id AS contact_id,"
        " attribution.evidence AS evidence, attribution.channel AS channel"
        " FROM {ds}.orders WHERE shop = @shop AND order_id = @id",
        shop=shop,
        id=order_id,
    )


def wait_row(
    crm: Crm, shop: str, order_id: str, until: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    got: list[dict[str, Any]] = []

    def check() -> bool:
        got[:] = rows(crm, shop, order_id)
        return len(got) == 1 and until(got[0])

    assert eventually(check), f"{order_id}: {got}"
    return got[0]


def shopify_rows(crm: Crm, shopify_id: Any) -> list[dict[str, Any]]:
    """Rows of ``orders`` that are the Shopify order itself (source shopify): a second
    import of an order the CRM wrote would be one."""
    return crm.query(
        "SELECT order_id FROM {ds}.orders WHERE source = 'shopify' AND order_id = @id",
        id=str(shopify_id),
    )


def status(crm: Crm, record_id: str, entity: str = "order") -> dict[str, Any]:
    found = crm.query(
        "SELECT status, reason, error_code, shopify_id FROM {ds}.sync_status"
        " WHERE record_id = @id AND entity = @entity AND direction = 'outbound'",
        id=record_id,
        entity=entity,
    )
    assert len(found) == 1, found
    return found[0]


def told(standin: StandIn, manager: str, words: str) -> list[str]:
    return [str(call["body"]) for call in standin.delivered(manager) if words in str(call["body"])]


def told_once(stack: dict[str, str], managers: list[str], words: str, kind: str = "") -> bool:
    """Each manager got exactly one message about ``words`` (that mentions ``kind``), and
    no second one came."""
    standin = StandIn(stack["MANYCHAT_API_URL"])

    def once() -> bool:
        return all(len([b for b in told(standin, m, words) if kind in b]) == 1 for m in managers)

    return eventually(once, timeout=30) and stays(once)


def form_order(stack: dict[str, str], **fields: str) -> str:
    """A manager's order from the order form; its CRM number."""
    url = stack["ORDER_FORM_URL"]
    session, _ = signed_in(stack)
    values = new_order(session, url, phone=f"+1 201 555 01{random.randint(10, 99)}", **fields)
    saved = session.post(url + "/", data=values, timeout=10)
    assert saved.status_code == 201, saved.text
    return order_number(saved.text)


def the_shopify_order(stack: dict[str, str], identifier: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def one() -> bool:
        found[:] = shopify_orders(stack, identifier)
        return len(found) == 1

    assert eventually(one), found
    assert stays(lambda: len(shopify_orders(stack, identifier)) == 1)
    return found[0]


# ------------------------------------------------------------------------ journeys
def test_a_email_order_echo_reconcile_refund_and_cancel_stay_one_crm_order(
    stack: dict[str, str], stack_crm: Crm, stack_managers: list[str], sync_on: str
) -> None:
    mailbox = f"{unique('journey-a')}@shop.example"
    dev_mail(mailbox, "kiire_plain_text.eml")
    order_id = "K-3F8LX"
    created = the_shopify_order(stack, f"orderhub@{mailbox}:email:kiire:{order_id}")
    shopify_id = created["id"]

    # The echo: Shopify's orders/create joins the CRM order.
    row = wait_row(stack_crm, mailbox, order_id, lambda r: r["shopify_order_id"] is not None)
    assert row["shopify_order_id"] == str(shopify_id) and row["source"] == "email:kiire"

    # Reconciliation reads the order from the shop: recognised, not imported again.
    reconcile(stack)
    # A marker order by webhook, waited for (``settle``): what reconciliation published
    # before it has landed too, so a second import would show in `orders` by now (or
    # within the short window after).
    settle(stack, stack_crm)
    assert stays(lambda: shopify_rows(stack_crm, shopify_id) == [], seconds=2)

    # A refund made in Shopify, keyed by the Shopify order: it is the CRM order's.
    refund = fixture("refund")
    refund.update(id=random.randrange(10**15, 10**16), order_id=shopify_id, created_at=stamp())
    refund["transactions"] = [
        {
            **refund["transactions"][0],
            "order_id": shopify_id,
            "amount": created["total_price"],
            "currency": created["currency"],
            "created_at": stamp(),
        }
    ]
    assert webhook(stack, "refunds/create", refund) == "accepted"
    row = wait_row(stack_crm, mailbox, order_id, lambda r: r["refunded"] > 0)
    assert (row["status"], row["refunded"]) == ("refunded", float(created["total_price"]))

    # The merchant cancels it in Shopify's admin: Shopify sends orders/cancelled.
    data = graphql(
        stack,
        "mutation($id: ID!) { orderCancel(orderId: $id, reason: CUSTOMER, refund: false,"
        " restock: true, notifyCustomer: false) { job { id } orderCancelUserErrors { message } } }",
        id=created["admin_graphql_api_id"],
    )
    assert data["orderCancel"]["orderCancelUserErrors"] == []
    row = wait_row(stack_crm, mailbox, order_id, lambda r: r["status"] == "cancelled")

    # The end: one CRM row (cancelled, its refund on it), one Shopify order, no Shopify row.
    assert len(rows(stack_crm, mailbox, order_id)) == 1
    assert row["refunded"] == float(created["total_price"])
    assert shopify_rows(stack_crm, shopify_id) == []
    assert len(shopify_orders(stack, f"orderhub@{mailbox}:email:kiire:{order_id}")) == 1
    assert told_once(stack, stack_managers, order_id, "New order")
    assert told_once(stack, stack_managers, order_id, "cancel")
    assert status(stack_crm, order_id) == {
        "status": "synced",
        "reason": "created in Shopify",
        "error_code": None,
        "shopify_id": created["admin_graphql_api_id"],
    }


def settle(stack: dict[str, str], crm: Crm) -> None:
    """A marker order by webhook, waited for: what was published before has landed too."""
    marker = {**fixture("order"), "id": random.randrange(10**15, 10**16)}
    webhook(stack, "orders/create", marker)
    assert crm.wait_for(
        "SELECT 1 FROM {ds}.orders WHERE order_id = @id", lambda r: bool(r), id=str(marker["id"])
    )


def test_b_form_order_with_a_chat_contact_keeps_it_through_echo_reconcile_and_backfill(
    stack: dict[str, str],
    stack_crm: Crm,
    stack_managers: list[str],
    sync_on: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    contact = new_subscriber_id()
    number = form_order(stack, chat_contact=contact, channel="instagram")
    created = the_shopify_order(stack, f"orderhub:manual:{number}")
    assert {"name": "orderhub_contact", "value": contact} in created["note_attributes"]

    def kept(r: dict[str, Any]) -> bool:
        return (r["contact_id"], r["evidence"], r["channel"]) == (contact, "manager", "instagram")

    row = wait_row(stack_crm, sync_on, number, lambda r: r["shopify_order_id"] is not None)
    assert kept(row), row  # the echo (Shopify's newer version) kept what only the CRM knew

    reconcile(stack)
    settle(stack, stack_crm)
    assert kept(wait_row(stack_crm, sync_on, number, kept))

    for key in (
        "GOOGLE_CLOUD_PROJECT",
        "PUBSUB_EMULATOR_HOST",
        "SHOPIFY_SHOP_DOMAIN",
        "SHOPIFY_ADMIN_URL",
        "SHOPIFY_ADMIN_TOKEN",
        "ORDER_EVENTS_TOPIC",
        "SHOPIFY_APP_IDS",
    ):
        monkeypatch.setenv(key, stack[key])
    from orderhub.shopify_reconcile import cli

    assert cli.main(["--resource", "orders"]) == 0
    capsys.readouterr()
    settle(stack, stack_crm)

    row = wait_row(stack_crm, sync_on, number, kept)
    assert row["shopify_order_id"] == str(created["id"]) and row["source"] == "manual"
    assert shopify_rows(stack_crm, created["id"]) == []
    assert len(shopify_orders(stack, f"orderhub:manual:{number}")) == 1
    assert told_once(stack, stack_managers, number, "New order")
    assert status(stack_crm, number)["reason"] == "created in Shopify"


def test_c_storefront_order_with_forged_attributes_does_not_take_over_a_crm_order(
    stack: dict[str, str], stack_crm: Crm, stack_managers: list[str], sync_on: str
) -> None:
    number = form_order(stack)  # 2 x 3.50 of gift wrap
    # A shop customer sets cart attributes naming the manager's order (``/cart/update.js``);
    # Shopify copies them into the order's note attributes. Their app is the storefront's.
    forged_id = random.randrange(10**15, 10**16)
    forged = {
        **fixture("order"),
        "id": forged_id,
        "name": f"#F{forged_id % 100000}",
        "created_at": stamp(1),
        "updated_at": stamp(1),
        "app_id": 580111,
        "source_name": "web",
        "total_price": "0.01",
        "note_attributes": [
            {"name": "orderhub_source", "value": "manual"},
            {"name": "orderhub_order_id", "value": number},
            {"name": "orderhub_shop", "value": sync_on},
        ],
    }
    seed(stack, forged)
    assert webhook(stack, "orders/create", forged) == "accepted"
    cancelled = {
        **forged,
        "cancelled_at": stamp(),
        "updated_at": stamp(),
        "cancel_reason": "customer",
    }
    seed(stack, cancelled)
    assert webhook(stack, "orders/cancelled", cancelled) == "accepted"
    reconcile(stack)

    # The CRM order still goes to Shopify (nothing thought it linked), and is the manager's.
    created = the_shopify_order(stack, f"orderhub:manual:{number}")
    row = wait_row(stack_crm, sync_on, number, lambda r: r["shopify_order_id"] is not None)
    assert row["shopify_order_id"] == str(created["id"])
    assert (row["source"], row["cancelled_at"], row["total"]) == ("manual", None, 7.0), row
    # The storefront order is its own Shopify order, cancelled on its own.
    own = wait_row(stack_crm, sync_on, str(forged_id), lambda r: r["status"] == "cancelled")
    assert own["source"] == "shopify" and float(own["total"]) == 0.01
    assert len(rows(stack_crm, sync_on, number)) == 1
    assert len(shopify_orders(stack, f"orderhub:manual:{number}")) == 1
    assert told_once(stack, stack_managers, number, "New order")
    standin = StandIn(stack["MANYCHAT_API_URL"])
    assert all(
        [b for b in told(standin, m, number) if "cancel" in b.lower()] == [] for m in stack_managers
    )
    assert status(stack_crm, number)["reason"] == "created in Shopify"


@pytest.fixture
def lagging_search(stack: dict[str, str]) -> Iterator[None]:
    """Shopify's search index 30 s behind new orders (ended afterwards)."""
    fault(stack, "orders", "lag:30")
    yield
    fault(stack, "orders", "lag:0")


def test_d_timeout_plus_lagging_search_and_two_deliveries_make_one_shopify_order(
    stack: dict[str, str],
    stack_crm: Crm,
    stack_managers: list[str],
    sync_on: str,
    lagging_search: None,
) -> None:
    from google.cloud import pubsub_v1

    from orderhub.bus import PubSubBus
    from orderhub.sources import manual

    os.environ["PUBSUB_EMULATOR_HOST"] = stack["PUBSUB_EMULATOR_HOST"]
    form, errors = manual.validate(
        manual.read_form(
            {
                "customer_name": f"E2E {unique('d')[-6:]}",
                "phone": f"+1201555{random.randint(1000, 9999)}",
                "delivery_method": "pickup",
                "channel": "messenger",
                "lines-0-title": "Gift wrap",
                "lines-0-quantity": "1",
                "lines-0-price": "4.00",
            }
        ),
        link_mode=False,
        default_country="US",
        currency="USD",
        delivery_methods=("pickup",),
    )
    assert form is not None, errors
    event = manual.order_event(
        form, manager="demo", form_token=unique("t") * 2, shop=sync_on, at=datetime.now(UTC)
    )
    number = event["entity_id"]
    # Shopify creates the order but answers after shopify_sync's 10 s timeout.
    fault(stack, "orderCreate", "slow:13")
    publisher = pubsub_v1.PublisherClient()
    bus = PubSubBus(
        publisher, publisher.topic_path(stack["GOOGLE_CLOUD_PROJECT"], stack["ORDER_EVENTS_TOPIC"])
    )
    bus.publish(event)
    # The same event once more (a producer's retry), while the first delivery's create is
    # under way: Shopify holds the order and answers it late.
    assert eventually(lambda: len(shopify_orders(stack, f"orderhub:manual:{number}")) == 1)
    bus.publish(event)

    created = the_shopify_order(stack, f"orderhub:manual:{number}")
    row = wait_row(stack_crm, sync_on, number, lambda r: r["shopify_order_id"] is not None)
    assert row["shopify_order_id"] == str(created["id"])
    # Past the timeout, Pub/Sub's redeliveries and the lag: still one order. Waited for as
    # conditions, then a window of one redelivery: the delivery that created the order has
    # given up on its answer and said so in sync_log (past the timeout), and the link is
    # final (sync_status synced: every later delivery finds it done). Any delivery of either
    # message that failed before then comes back within Pub/Sub's longest backoff
    # (MAX_BACKOFF_SECONDS); a pipeline that creates again on a redelivery, while the search
    # index still lags (30 s from the create), does it inside that window.
    assert stack_crm.wait_for(
        "SELECT reason FROM {ds}.sync_log WHERE event_id = @e AND direction = 'outbound'"
        " AND (STARTS_WITH(reason, 'Shopify did not answer our create')"
        " OR STARTS_WITH(reason, 'created in Shopify'))",
        bool,
        timeout=45,
        e=event["event_id"],
    )
    assert stack_crm.wait_for(
        "SELECT status FROM {ds}.sync_status WHERE record_id = @id AND entity = 'order'"
        " AND direction = 'outbound'",
        lambda found: [r["status"] for r in found] == ["synced"],
        timeout=45,
        id=number,
    )
    one_redelivery = MAX_BACKOFF_SECONDS + 3  # and the time to handle it
    assert stays(
        lambda: len(shopify_orders(stack, f"orderhub:manual:{number}")) == 1, one_redelivery
    )
    assert len(rows(stack_crm, sync_on, number)) == 1
    assert shopify_rows(stack_crm, created["id"]) == []
    assert told_once(stack, stack_managers, number, "New order")
    got = status(stack_crm, number)
    assert got["status"] == "synced" and got["shopify_id"] == created["admin_graphql_api_id"]
    assert got["reason"] in (  # the echo came before, or after, the request gave up
        "created in Shopify: confirmed by Shopify's webhook, which came before the answer to"
        " our request (lost)",
        "created in Shopify: confirmed by Shopify's webhook after our request got no answer",
        "created in Shopify",
    ), got


class StopAfterFirst(Exception):
    pass


def seen_by_the_webhook(stack: dict[str, str], answer: str) -> bool:
    """Send probe orders until the webhook answers ``answer`` (its switch cache expired)."""

    def probe() -> bool:
        order = {**fixture("order"), "id": random.randrange(10**15, 10**16)}
        return webhook(stack, "orders/create", order) == answer

    return eventually(probe, timeout=45)


def test_e_held_orders_released_halfway_then_released_again_come_in_once(
    stack: dict[str, str],
    stack_crm: Crm,
    stack_managers: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo shop's orders held, then brought in by event id. The webhook keeps the
    switch up to SYNC_SETTINGS_CACHE_SECONDS (30 s; 1 s in the test stack), so probe orders
    show when it sees the change."""
    from google.cloud import firestore

    from orderhub import bus as bus_module
    from orderhub.shopify_sync.cli import resync_main
    from orderhub.switches import FirestoreSwitches, Switches

    os.environ["FIRESTORE_EMULATOR_HOST"] = stack["FIRESTORE_EMULATOR_HOST"]
    shop = stack["SHOPIFY_SHOP_DOMAIN"]
    switches = FirestoreSwitches(
        firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"], database=stack["APP_DATABASE"]),
        "sync_settings",
    )
    switches.put(shop, Switches().changed({"inbound.orders": "off"}))
    assert seen_by_the_webhook(stack, "held")

    order_id = random.randrange(10**15, 10**16)
    order = {
        **fixture("order"),
        "id": order_id,
        "name": f"#H{order_id % 100000}",
        "created_at": stamp(10),
        "updated_at": stamp(10),
    }
    paid = {**order, "financial_status": "paid", "note": "v2", "updated_at": stamp(2)}
    assert webhook(stack, "orders/create", order, shop=shop) == "held"
    assert webhook(stack, "orders/updated", paid, shop=shop) == "held"
    held = "SELECT status FROM {ds}.sync_status WHERE shop = @shop AND direction = 'inbound'"
    assert stack_crm.wait_for(held, lambda r: bool(r) and r[0]["status"] == "skipped", shop=shop)
    assert stays(lambda: rows(stack_crm, shop, str(order_id)) == [])

    switches.put(shop, Switches())  # inbound on again
    assert seen_by_the_webhook(stack, "accepted")  # (and no later test's order is held)
    for key in (
        "GOOGLE_CLOUD_PROJECT",
        "PUBSUB_EMULATOR_HOST",
        "FIRESTORE_EMULATOR_HOST",
        "BIGQUERY_EMULATOR_HOST",
        "BIGQUERY_DATASET",
        "ORDER_EVENTS_TOPIC",
        "SHOPIFY_APP_IDS",
    ):
        monkeypatch.setenv(key, stack[key])
    from tests.conftest import clear_caches

    clear_caches()
    real_publish = bus_module.PubSubBus.publish
    published: list[str] = []

    def publish_once(self: Any, event: Any) -> str:
        if published:
            raise StopAfterFirst("the release stopped halfway")
        published.append(event["event_id"])
        return real_publish(self, event)

    with monkeypatch.context() as halfway:
        halfway.setattr(bus_module.PubSubBus, "publish", publish_once)
        with pytest.raises(StopAfterFirst):
            resync_main(["--shop", shop, "--inbound", "--inbound-record", str(order_id)])
    wait_row(stack_crm, shop, str(order_id), lambda r: True)  # v1 is in
    capsys.readouterr()

    # The next run finds v2 still held (its own event id was never released) and sends it.
    def released_all() -> bool:
        assert resync_main(["--shop", shop, "--inbound", "--inbound-record", str(order_id)]) == 0
        return "0 held event(s) sent into the CRM" in capsys.readouterr().out

    assert resync_main(["--shop", shop, "--inbound", "--inbound-record", str(order_id)]) == 0
    assert "1 held event(s) sent into the CRM" in capsys.readouterr().out
    row = wait_row(stack_crm, shop, str(order_id), lambda r: r["status"] == "paid")
    assert released_all()  # a third run: nothing left
    assert (row["source"], row["name"]) == ("shopify", order["name"])
    assert len(rows(stack_crm, shop, str(order_id))) == 1
    assert told_once(stack, stack_managers, order["name"], "New order")
    assert [o for o in writes(stack)["orders"] if o["id"] == order_id] == []  # not written back
    inbound = stack_crm.query(
        "SELECT status, reason FROM {ds}.sync_status WHERE shop = @shop"
        " AND direction = 'inbound' AND record_id = @id",
        shop=shop,
        id=str(order_id),
    )
    assert inbound == [
        {"status": "synced", "reason": "brought into the CRM after the switch was turned on"}
    ], inbound
