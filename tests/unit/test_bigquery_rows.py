"""Rows are shaped by the table schema files that Terraform and the stack create tables from."""

import json
from datetime import UTC, datetime

from devstack.dataset import manifest, table_schema
from orderhub.sinks.bigquery import TABLE_OF_ENTITY, build_row, event_values, write_event
from orderhub.sources.shopify import Delivery, normalise
from tests.conftest import load_json

RAW = {
    "raw_id": "r1",
    "kind": "shopify_webhook",
    "received_at": "2026-01-01T00:00:00.000Z",
    "sha256": "ab",
    "body": "{}",
    "meta": {"topic": "orders/create"},
}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def order_event():
    body = json.dumps(load_json("shopify/shopify_python_api__order.json")["order"]).encode()
    d = Delivery("orders/create", "s.myshopify.com", "w", None, None, NOW)
    return normalise(d, body, RAW)


def test_order_row_has_every_column_typed():
    schema = table_schema("order_events")
    row = build_row(schema, event_values(order_event(), NOW))
    assert set(row) == {f["name"] for f in schema}
    assert row["total"] == "409.94" and row["currency"] == "USD"
    assert row["created_at"] == "2008-01-10T16:00:00.000Z"
    assert row["line_items"][0] == {
        "line_id": "466157049",
        "product_id": "632910392",
        "variant_id": "39072856",
        "sku": "IPOD2008GREEN",
        "title": "IPod Nano - 8gb",
        "variant_title": "green",
        "quantity": 1,
        "unit_price": "199.00",
        "total_discount": "0",  # absent in the payload
    }
    assert row["raw_id"] == "r1"
    assert json.loads(row["entity"])["order_id"] == "450789469"
    assert row["tags"] == []


def test_every_entity_has_a_table_and_every_table_a_schema():
    tables = manifest()["tables"]
    assert set(TABLE_OF_ENTITY.values()) | {"raw_events"} <= set(tables)
    for name in tables:
        assert table_schema(name)


class RecordingInserter:
    def __init__(self):
        self.calls = []

    def schema(self, table):
        return table_schema(table)

    def insert(self, table, rows, row_ids):
        self.calls.append((table, rows, row_ids))


def test_write_event_archives_raw_then_appends_the_version():
    inserter = RecordingInserter()
    event = order_event()
    assert write_event(event, inserter=inserter, now=lambda: NOW) == ["raw_events", "order_events"]
    (raw_table, raw_rows, raw_ids), (table, rows, ids) = inserter.calls
    assert (raw_table, table) == ("raw_events", "order_events")
    assert raw_ids == ["r1"] and raw_rows[0]["body"] == "{}"
    assert json.loads(raw_rows[0]["meta"]) == {"topic": "orders/create"}
    assert ids == [event["event_id"]] and rows[0]["order_id"] == "450789469"
