"""The CRM app's customer edit, "Send to Shopify now" and sync-status column (issue 24),
through functions-framework's test client against the emulators; the events it publishes
go through crm_writer as in production (the fixtures of test_crmapp)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from orderhub.sources import manual
from tests.conftest import unique
from tests.integration import test_crmapp as base
from tests.integration.test_crmapp import NOW, SHOP, App, hidden, shopify_order, soup, text

app = base.app  # the fixture: the app, crm_writer, a topic, a dataset


def form_order(phone: str, price: str = "20.00") -> dict[str, Any]:
    order = manual.ManualOrder(
        lines=(manual.Line("Tea", 1, Decimal(price)),),
        currency="USD",
        customer_name="Olena K",
        phone=phone,
        email=None,
        address="1 Main St",
        delivery_method="courier",
        note=None,
        channel="phone",
        payment_type="card",
    )
    return manual.order_event(
        order,
        manager="anna",
        form_token=manual.new_form_token(NOW),
        shop=SHOP,
        at=NOW - timedelta(minutes=5),
    )


def log_sync(app: App, record_id: str, entity: str, status: str, reason: str) -> None:
    from orderhub.shopify_sync.sync import BigQuerySyncLog
    from orderhub.sinks.bigquery import BigQueryInserter

    BigQuerySyncLog(BigQueryInserter(app.crm.client, app.crm.dataset)).record(
        {
            "log_id": unique("log"),
            "shop": SHOP,
            "direction": "outbound",
            "entity": entity,
            "source": "manual",
            "record_id": record_id,
            "event_id": "e" * 32,
            "status": status,
            "reason": reason,
            "attempted_at": NOW,
        }
    )


def test_orders_show_their_sync_and_send_now_publishes_the_newest_version(app: App) -> None:
    order = form_order("+12015550142")
    app.deliver(order)
    app.deliver(shopify_order(9101, "+1 201 555 0143", minutes_ago=1))
    order_id = order["entity_id"]
    log_sync(app, order_id, "order", "failed", "phone +12015550142 already belongs to 5001")
    app.sign_in()
    page = app.client.get("/orders")
    rows = {
        li.find("a")["href"].rsplit("/", 1)[-1]: li
        for li in soup(page).select("#order-list li")
        if li.find("a")  # not a day's header
    }
    assert "Shopify: Refused: phone +12015550142 already belongs to 5001" in rows[order_id].text
    assert rows[order_id].find("form", action=f"/orders/{order_id}/send") is not None
    assert "Shopify:" not in rows["9101"].text and rows["9101"].find("form") is None
    feed = app.client.get("/orders.json").get_json()
    synced = {o["order_id"]: o["sync"] for o in feed["orders"]}
    assert synced[order_id]["status"] == "failed" and synced["9101"] is None

    csrf = hidden(page, "csrf_token")
    assert app.client.post(f"/orders/{order_id}/send", data={}).status_code == 403
    sent = app.client.post(f"/orders/{order_id}/send", data={"csrf_token": csrf, "back": "list"})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/orders?done=sent")
    [again] = [json.loads(m.data) for m in app.topic.pull(expect=1)]
    assert (again["event_id"], again["entity"]["payment_type"]) == (order["event_id"], "card")
    shopify = app.client.post("/orders/9101/send", data={"csrf_token": csrf})
    assert shopify.status_code == 404  # Shopify's own order is Shopify's


def paid(event: dict[str, Any]) -> dict[str, Any]:
    """The order as paid: a customer's Spent counts paid orders only (issue 22)."""
    event["entity"]["financial_status"] = "paid"
    return event


def test_a_customer_is_edited_in_the_app_and_the_views_show_it(app: App) -> None:
    app.deliver(paid(form_order("+12015550150", "20.00")))
    app.deliver(paid(form_order("+12015550150", "5.50")))
    app.sign_in()
    edit = app.client.get("/customers/p12015550150/edit")
    assert edit.status_code == 200
    form = {
        "csrf_token": hidden(edit, "csrf_token"),
        "name": "Olena Kovalenko",
        "phone": "(201) 555-0150",
        "email": "Olena@Example.com",
        "tags": "vip, wholesale, vip",
        "note": "Mornings",
        "address1": "1 Main St",
        "city": "Newark",
        "zip": "07102",
        "country_code": "us",
    }
    bad = app.client.post("/customers/p12015550150/edit", data={**form, "phone": "12"})
    assert bad.status_code == 422
    assert soup(bad).find(id="phone")["aria-invalid"] == "true"
    assert app.topic.pull(expect=0, timeout=1.0) == []  # nothing published
    saved = app.client.post("/customers/p12015550150/edit", data=form)
    assert saved.status_code == 303
    [event] = app.deliver_published(expect=1)
    entity = event["entity"]
    assert (event["event_type"], event["source"], event["shop"]) == (
        "customer.upserted",
        "manual",
        SHOP,
    )
    assert (entity["manager"], entity["phone"], entity["email"]) == (
        "anna",
        "+12015550150",
        "olena@example.com",
    )
    assert entity["tags"] == ["vip", "wholesale"]
    assert (entity["orders_count"], entity["total_spent"]) == (
        2,
        [{"amount": "25.50", "currency": "USD"}],
    )
    assert entity["customer_id"].startswith("M-")
    shown = text(app.client.get("/customers/p12015550150"))
    assert "Tags vip, wholesale" in shown and "Note Mornings" in shown
    assert "1 Main St, Newark, 07102, US" in shown
    assert "Shopify Not sent yet" in shown
    listed = text(app.client.get("/customers?q=olena@example.com"))
    assert "Shopify: Not sent yet" in listed
    log_sync(app, "olena@example.com", "customer", "synced", "created in Shopify")
    listed = soup(app.client.get("/customers?q=olena@example.com"))
    assert "Shopify: In Shopify" in listed.select_one("#customer-list li").text

    # A second edit is a new version of the same record.
    page = app.client.get("/customers/p12015550150/edit")
    app.client.post(
        "/customers/p12015550150/edit",
        data={**form, "csrf_token": hidden(page, "csrf_token"), "tags": "vip"},
    )
    [second] = app.deliver_published(expect=1)
    assert second["entity_id"] == event["entity_id"]
    assert second["version"] > event["version"]

    # A manager deletes: the view drops the record, and a manager cannot delete in Shopify.
    page = app.client.get("/customers/p12015550150/edit")
    assert soup(page).find(id="delete-in-shopify") is None
    deleted = app.client.post(
        "/customers/p12015550150/delete",
        data={"csrf_token": hidden(page, "csrf_token"), "delete_in_shopify": "on"},
    )
    assert deleted.status_code == 303
    [gone] = app.deliver_published(expect=1)
    assert gone["event_type"] == "customer.deleted"
    assert gone["entity"]["delete_in_shopify"] is False
    rows = app.crm.query(
        "SELECT customer_id FROM {ds}.customers WHERE customer_id = @id", id=event["entity_id"]
    )
    assert rows == []


def test_the_owner_marks_payment_types_paid_in_shopify(app: App) -> None:
    from google.cloud import firestore

    from orderhub.switches import FirestoreSwitches

    app.sign_in("olga")
    page = app.client.get("/settings")
    form = {
        "csrf_token": hidden(page, "csrf_token"),
        "sources.manual": "on",
        "sources.email:*": "on",
        "orders_per_minute": "0",
        "paid_in_shopify.card": "on",
        "customer_tags": "wholesale, vip",
    }
    saved = app.client.post("/settings/sync", data=form)
    assert saved.status_code == 200 and "Saved: 2 change(s)." in text(saved)
    switches = FirestoreSwitches(firestore.Client(), app.prefix + "sync_settings").get(SHOP)
    assert switches.paid_in_shopify == ("card",)
    assert switches.customer_tags == ("wholesale", "vip")
    again = soup(app.client.get("/settings"))
    assert again.find("input", attrs={"name": "paid_in_shopify.card"}).get("checked") is not None
