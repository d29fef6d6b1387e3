"""crm_writer through functions-framework, against the BigQuery emulator."""

import json
from datetime import UTC, datetime

import pytest
from functions_framework import create_app

from devstack.shopify_sender import fixture
from orderhub.event import encode
from orderhub.sources.shopify import Delivery, normalise
from tests.conftest import ROOT, cloud_event, post_cloud_event

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def writer(crm):
    return create_app("crm_writer", str(ROOT / "functions" / "main.py"), "cloudevent").test_client()


def shopify_event(topic: str, payload: dict, webhook_id: str = "w"):
    raw = {
        "raw_id": f"raw-{webhook_id}",
        "kind": "shopify_webhook",
        "received_at": "2026-01-01T00:00:00.000Z",
        "sha256": "x",
        "body": json.dumps(payload),
        "meta": {"topic": topic},
    }
    delivery = Delivery(topic, "crm.myshopify.com", webhook_id, None, None, NOW)
    return normalise(delivery, json.dumps(payload).encode(), raw)


def deliver(writer, event, message_id=None):
    response = post_cloud_event(writer, cloud_event(encode(event), message_id=message_id))
    assert response.status_code == 200, response.text
    return response


def orders(crm):
    return crm.query("SELECT order_id, status, total, version FROM {ds}.orders ORDER BY order_id")


def test_order_lands_once_in_the_orders_view_despite_redelivery(writer, crm):
    event = shopify_event("orders/create", fixture("order"))
    deliver(writer, event, "m1")
    deliver(writer, event, "m1")  # Pub/Sub redelivery
    deliver(writer, event, "m2")  # Shopify sent it twice
    rows = orders(crm)
    assert [(r["order_id"], r["status"], str(r["total"])) for r in rows] == [
        ("450789469", "authorized", "409.940000000")
    ]
    lines = crm.query("SELECT sku, quantity FROM {ds}.order_lines ORDER BY sku")
    assert [r["sku"] for r in lines] == ["IPOD2008BLACK", "IPOD2008GREEN", "IPOD2008RED"]
    raw = crm.query("SELECT raw_id, kind FROM {ds}.raw_events")
    assert {r["raw_id"] for r in raw} == {"raw-w"}


def test_out_of_order_updates_end_in_the_newest_state(writer, crm):
    created = fixture("order")
    paid = {**created, "financial_status": "paid", "updated_at": "2008-01-10T12:00:00-05:00"}
    deliver(writer, shopify_event("orders/paid", paid, "w2"))
    deliver(writer, shopify_event("orders/create", created, "w1"))
    assert [r["status"] for r in orders(crm)] == ["paid"]


def test_cancellation_and_refund_show_in_orders(writer, crm):
    order = fixture("order")
    cancelled = {
        **order,
        "cancelled_at": "2008-01-11T10:00:00-05:00",
        "updated_at": "2008-01-11T10:00:00-05:00",
    }
    deliver(writer, shopify_event("orders/create", order, "a"))
    deliver(writer, shopify_event("refunds/create", fixture("refund"), "b"))
    row = crm.query("SELECT status, refunded FROM {ds}.orders")[0]
    assert (row["status"], str(row["refunded"])) == ("partially_refunded", "209.000000000")
    deliver(writer, shopify_event("orders/cancelled", cancelled, "c"))
    assert crm.query("SELECT status FROM {ds}.orders")[0]["status"] == "cancelled"


def test_customers_products_and_analyst_views(writer, crm):
    deliver(writer, shopify_event("customers/create", fixture("customer"), "c"))
    deliver(writer, shopify_event("products/create", fixture("product"), "p"))
    deliver(writer, shopify_event("orders/create", fixture("order"), "o"))
    assert [r["email"] for r in crm.query("SELECT email FROM {ds}.customers")] == [
        "bob.norman@hostmail.com"
    ]
    skus = {r["sku"] for r in crm.query("SELECT sku FROM {ds}.products")}
    assert "IPOD2008PINK" in skus
    daily = crm.query("SELECT day, source, orders, gross FROM {ds}.daily_sales")
    assert [(str(r["day"]), r["source"], r["orders"]) for r in daily] == [
        ("2008-01-10", "shopify", 1)
    ]
    by_source = crm.query("SELECT source, orders FROM {ds}.orders_by_source")
    assert [(r["source"], r["orders"]) for r in by_source] == [("shopify", 1)]


def test_deleted_product_leaves_the_catalogue(writer, crm):
    deliver(writer, shopify_event("products/create", fixture("product"), "p1"))
    assert "IPOD2008PINK" in {r["sku"] for r in crm.query("SELECT sku FROM {ds}.products")}
    gone = normalise(
        Delivery("products/delete", "crm.myshopify.com", "p2", None, "2030-01-01T00:00:00Z", NOW),
        b'{"id": 632910392}',
        {
            "raw_id": "raw-p2",
            "kind": "shopify_webhook",
            "received_at": "2030-01-01T00:00:00Z",
            "sha256": "x",
        },
    )
    deliver(writer, gone)
    assert crm.query("SELECT sku FROM {ds}.products") == []


def test_a_message_that_is_not_an_event_is_quarantined_not_retried(writer, crm):
    response = post_cloud_event(writer, cloud_event(b"definitely not json", message_id="bad-1"))
    assert response.status_code == 200  # acknowledged: Pub/Sub will not deliver it again
    rows = crm.query("SELECT reason, kind FROM {ds}.quarantine")
    assert len(rows) == 1 and "not JSON" in rows[0]["reason"]
    assert rows[0]["kind"] == "pubsub_message"


def test_an_event_whose_values_do_not_fit_is_quarantined(writer, crm):
    event = shopify_event("orders/create", fixture("order"))
    event["entity"]["created_at"] = "the day before yesterday"
    deliver(writer, event)
    assert orders(crm) == []
    rows = crm.query("SELECT reason FROM {ds}.quarantine")
    assert len(rows) == 1 and "does not fit order_events" in rows[0]["reason"]


def test_privacy_requests_are_kept_for_a_person_to_act_on(writer, crm):
    payload = {
        "shop_id": 954889,
        "shop_domain": "crm.myshopify.com",
        "customer": {"id": 207119551, "email": "bob.norman@hostmail.com", "phone": "555"},
        "orders_to_redact": [450789469],
    }
    deliver(writer, shopify_event("customers/redact", payload, "gdpr-1"))
    deliver(writer, shopify_event("customers/redact", payload, "gdpr-1"))  # redelivered
    rows = crm.query(
        "SELECT request, customer_id, order_ids FROM {ds}.privacy_requests "
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id) = 1"
    )
    assert rows == [
        {"request": "customers/redact", "customer_id": "207119551", "order_ids": ["450789469"]}
    ]


def test_analysts_numbers_add_up(writer, crm):
    """daily_sales, orders_by_source, order_lines and customers, on figures a person can check."""
    kept = fixture("order")  # 409.94 USD, placed 2008-01-10
    cancelled = {
        **kept,
        "id": 2,
        "total_price": "100.00",
        "cancelled_at": "2008-01-10T18:00:00-05:00",
        "updated_at": "2008-01-10T18:00:00-05:00",
    }
    refunded_fully = {**kept, "id": 3, "total_price": "50.00"}
    deliver(writer, shopify_event("orders/create", kept, "o1"))
    deliver(writer, shopify_event("orders/cancelled", cancelled, "o2"))
    deliver(writer, shopify_event("orders/create", refunded_fully, "o3"))
    deliver(writer, shopify_event("refunds/create", fixture("refund"), "r1"))  # 209.00 of o1
    full = {
        **fixture("refund"),
        "id": 77,
        "order_id": 3,
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "50.00", "currency": "USD"}
        ],
    }
    deliver(writer, shopify_event("refunds/create", full, "r3"))

    status = {
        r["order_id"]: r["status"] for r in crm.query("SELECT order_id, status FROM {ds}.orders")
    }
    assert status == {"450789469": "partially_refunded", "2": "cancelled", "3": "refunded"}

    [day] = crm.query("SELECT orders, gross, refunded, net FROM {ds}.daily_sales")
    assert (day["orders"], str(day["gross"]), str(day["refunded"]), str(day["net"])) == (
        2,
        "459.940000000",
        "259.000000000",
        "200.940000000",
    )
    [source] = crm.query("SELECT orders, cancelled, gross FROM {ds}.orders_by_source")
    assert (source["orders"], source["cancelled"], str(source["gross"])) == (3, 1, "459.940000000")
    lines = crm.query(
        "SELECT unit_price, quantity, line_total FROM {ds}.order_lines WHERE order_id = '450789469'"
    )
    assert lines and all(r["line_total"] == r["unit_price"] * r["quantity"] for r in lines)

    deliver(writer, shopify_event("customers/create", fixture("customer"), "c1"))
    assert len(crm.query("SELECT 1 FROM {ds}.customers")) == 1
    gone = normalise(
        Delivery("customers/delete", "crm.myshopify.com", "c2", None, "2030-01-01T00:00:00Z", NOW),
        b'{"id": 207119551}',
        {
            "raw_id": "raw-c2",
            "kind": "shopify_webhook",
            "received_at": "2030-01-01T00:00:00Z",
            "sha256": "x",
        },
    )
    deliver(writer, gone)
    assert crm.query("SELECT 1 FROM {ds}.customers") == []
