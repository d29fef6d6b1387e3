"""The privacy job's core with a small in-memory warehouse that behaves as BigQuery does
when rows are still in the streaming buffer: it refuses DML on that table. The job must
report the table as not erased, leave the request open, and finish it on a later run.
(The end-to-end run against the BigQuery emulator is tests/e2e/test_privacy_erasure.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orderhub.privacy_erase import erasure
from orderhub.privacy_erase.documents import _paths

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


class FakeWarehouse:
    """Answers the job's SQL by what it asks for; records every statement and append."""

    def __init__(self, *, streaming: set[str]) -> None:
        self.streaming = streaming
        self.changed: list[str] = []
        self.audit: list[dict[str, Any]] = []
        self.left: dict[str, int] = {}
        self.found_again = True  # False: the rows the needles came from are already nulled
        self.searched: list[dict[str, Any]] = []

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        if "FROM {ds}.privacy_requests" in sql:
            done = {a["request_id"] for a in self.audit if a["status"] == "done"}
            request = {
                "request_id": "customers/redact:42:",
                "request": "customers/redact",
                "shop": "s.myshopify.com",
                "customer_id": "42",
                "order_ids": ["1001"],
                "occurred_at": NOW,
            }
            return [] if request["request_id"] in done else [request]
        if "UNNEST(a.digests)" in sql:
            return [
                {"d": d}
                for a in self.audit
                if a["request_id"] == params["request_id"]
                for d in a.get("digests", [])
            ]
        if "UNION ALL" in sql and "customer.email" in sql:
            if not self.found_again:
                return []
            return [
                {
                    "email": "ann@example.com",
                    "phone": "+15550100",
                    "phone2": None,
                    "order_id": "1001",
                    "customer_id": "42",
                    "shop": "s.myshopify.com",
                }
            ]
        if "COUNT(*) AS n" in sql:
            table = sql.split("{ds}.")[1].split()[0]
            self.searched.append({"table": table, **params})
            return [{"n": self.left.get(table, 0)}]
        raise AssertionError(f"unexpected query {sql}")

    def change(self, sql: str, **params: Any) -> int:
        table = sql.split("{ds}.")[1].split()[0]
        if table in self.streaming:
            raise erasure.StillStreaming("would affect rows in the streaming buffer")
        found = self.found_again
        assert not found or "needles" not in params or "ann@example.com" in params["needles"]
        self.changed.append(table)
        return 1

    def tables(self) -> list[str]:
        return ["customer_events", "order_events", "privacy_erasures", "raw_events"]

    def append(self, table: str, row: dict[str, Any], row_id: str) -> None:
        assert table == "privacy_erasures"
        self.audit.append(row)


class FakeDocuments:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def null_fields_holding(self, needles: Any) -> int:
        self.asked.append(list(needles))
        return 0

    def holding(self, needles: Any) -> int:
        return 0


def test_rows_in_the_streaming_buffer_are_reported_and_erased_on_a_later_run() -> None:
    warehouse = FakeWarehouse(streaming={"order_events"})
    documents = FakeDocuments()

    first = erasure.run(warehouse=warehouse, documents=documents, now=lambda: NOW)

    assert [o.status for o in first] == ["pending"]
    assert "streaming buffer" in first[0].not_erased["order_events"]
    assert warehouse.audit[-1]["status"] == "pending"
    assert warehouse.audit[-1]["not_erased"][0]["store"] == "order_events"
    assert "order_events" not in warehouse.changed
    assert documents.asked == [["+15550100", "ann@example.com"]]

    warehouse.streaming.clear()  # a day later the buffer has been flushed
    second = erasure.run(warehouse=warehouse, documents=documents, now=lambda: NOW)

    assert [o.status for o in second] == ["done"]
    assert "order_events" in warehouse.changed
    assert warehouse.audit[-1]["status"] == "done"
    third = erasure.run(warehouse=warehouse, documents=documents, now=lambda: NOW)
    assert third == []  # a done request is not worked on again


def test_data_left_anywhere_keeps_the_request_open() -> None:
    warehouse = FakeWarehouse(streaming=set())
    warehouse.left = {"raw_events": 2}

    outcome = erasure.run(warehouse=warehouse, documents=FakeDocuments(), now=lambda: NOW)[0]

    assert outcome.status == "pending"
    assert outcome.not_erased == {"raw_events": "2 row(s) still hold the customer's data"}


def test_the_audit_row_holds_ids_and_counts_only() -> None:
    warehouse = FakeWarehouse(streaming=set())

    erasure.run(warehouse=warehouse, documents=FakeDocuments(), now=lambda: NOW)

    text = repr(warehouse.audit)
    assert "ann@example.com" not in text and "+15550100" not in text
    assert warehouse.audit[0]["order_ids"] == ["1001"]
    assert warehouse.audit[0]["customer_id"] == "42"


def test_firestore_fields_holding_a_needle_are_found_at_any_depth() -> None:
    doc = {
        "contact": {"email": "Ann@Example.com", "name": "Ann"},
        "phones": ["+15550100"],
        "status": "done",
        "count": 3,
    }

    paths = _paths(doc, ["ann@example.com", "+15550100"])

    assert sorted(paths) == [("contact", "email"), ("phones",)]


def test_shop_redact_deletes_the_shops_rows_but_keeps_the_requests_and_audit() -> None:
    class Shop(FakeWarehouse):
        def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
            if "FROM {ds}.privacy_requests" in sql and not self.audit:
                return [
                    {
                        "request_id": "shop/redact:954889:",
                        "request": "shop/redact",
                        "shop": "gone.myshopify.com",
                        "customer_id": None,
                        "order_ids": [],
                        "occurred_at": NOW,
                    }
                ]
            return []

        def change(self, sql: str, **params: Any) -> int:
            assert sql.startswith("DELETE FROM {ds}.") and params == {"shop": "gone.myshopify.com"}
            return super().change(sql, **params)

        def tables(self) -> list[str]:
            return ["notifications", "order_events", "privacy_erasures", "privacy_requests"]

    warehouse = Shop(streaming=set())

    outcomes = erasure.run(warehouse=warehouse, documents=FakeDocuments(), now=lambda: NOW)

    assert [o.status for o in outcomes] == ["done"]
    assert sorted(warehouse.changed) == ["notifications", "order_events"]
    assert warehouse.audit[0]["request"] == "shop/redact"


def test_a_statement_bigquery_refuses_is_reported_and_the_rest_goes_ahead() -> None:
    class Refusing(FakeWarehouse):
        def change(self, sql: str, **params: Any) -> int:
            if "{ds}.customer_events" in sql.split("WHERE")[0]:
                raise erasure.Refused("Unrecognized name: default_address")
            return super().change(sql, **params)

    warehouse = Refusing(streaming=set())

    outcome = erasure.run(warehouse=warehouse, documents=FakeDocuments(), now=lambda: NOW)[0]

    assert outcome.not_erased == {
        "customer_events": "refused by BigQuery: Unrecognized name: default_address"
    }
    assert {"raw_events", "order_events"} <= set(warehouse.changed)
    assert warehouse.audit[0]["status"] == "pending"


def test_a_later_run_searches_every_table_by_the_kept_digests_before_saying_done() -> None:
    """Issue 21: run 1 nulled the rows the needles are found through; run 2 must still
    search every table (by the keyed digests run 1 kept) and stay pending while a row
    (here a chat contact's) holds the customer."""
    warehouse = FakeWarehouse(streaming={"raw_events"})
    [first] = erasure.run(warehouse=warehouse, documents=FakeDocuments(), now=lambda: NOW, key="k")
    assert first.status == "pending"
    kept = warehouse.audit[0]["digests"]
    assert kept == sorted(erasure.digest("k", n) for n in ("+15550100", "ann@example.com"))
    assert "ann@example.com" not in str(warehouse.audit[0])
    warehouse.streaming.clear()
    warehouse.found_again = False
    warehouse.left = {"customer_events": 1}
    warehouse.searched.clear()

    [second] = erasure.run(warehouse=warehouse, documents=FakeDocuments(), now=lambda: NOW, key="k")

    assert second.status == "pending"
    assert "customer_events" in second.not_erased
    assert {s["table"] for s in warehouse.searched} >= {"order_events", "raw_events"}
    assert all(s["digests"] == kept for s in warehouse.searched)
    warehouse.left = {}
    [third] = erasure.run(warehouse=warehouse, documents=FakeDocuments(), now=lambda: NOW, key="k")
    assert third.status == "done"
