"""What BigQuery would refuse is quarantined, not retried until it dead-letters; large raw
bodies are stored by reference (issue 13 item 9, last bullet)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.api_core import exceptions

from orderhub.errors import PoisonMessage, TransientError
from orderhub.sinks.bigquery import (
    MAX_ROW_BYTES,
    RAW_INLINE_CHARS,
    BigQueryInserter,
    write_event,
)
from tests.unit.test_bigquery_rows import NOW, RecordingInserter, order_event


def test_a_total_beyond_numeric_is_poison_and_nothing_is_written():
    event = order_event()
    event["entity"]["total"] = {"amount": "1" * 30, "currency": "USD"}
    inserter = RecordingInserter()
    with pytest.raises(PoisonMessage, match="NUMERIC"):
        write_event(event, inserter=inserter, now=lambda: NOW)
    assert inserter.calls == []


def test_a_row_over_the_streaming_limit_is_poison():
    event = order_event()
    event["entity"]["note"] = "x" * (MAX_ROW_BYTES + 1)
    inserter = RecordingInserter()
    with pytest.raises(PoisonMessage, match="10 MB"):
        write_event(event, inserter=inserter, now=lambda: NOW)
    assert inserter.calls == []


def test_a_large_raw_body_is_stored_in_parts_each_sent_alone():
    event = order_event()
    body = "é" * (RAW_INLINE_CHARS * 3 + 7)
    event["raw"] = {**event["raw"], "body": body}
    inserter = RecordingInserter()
    write_event(event, inserter=inserter, now=lambda: NOW)
    raw_calls = [(rows, ids) for table, rows, ids in inserter.calls if table == "raw_events"]
    assert all(len(rows) == 1 for rows, _ in raw_calls)  # one row per request
    (head,), (head_id,) = raw_calls[0]
    assert head_id == event["raw"]["raw_id"] and head["body"] is None
    meta = json.loads(head["meta"])
    assert meta["body_parts"] == 4 and meta["body_chars"] == len(body)
    parts = [rows[0] for rows, _ in raw_calls[1:]]
    assert [p["raw_id"] for p in parts] == [f"{head_id}:part:{n}" for n in range(4)]
    assert all(len(p["body"]) <= RAW_INLINE_CHARS for p in parts)
    assert "".join(p["body"] for p in parts) == body
    assert inserter.calls[-1][0] == "order_events"


class FakeClient:
    """``insert_rows_json`` answering as BigQuery documents: per-row ``insertErrors``."""

    project = "p"

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def insert_rows_json(self, table: str, rows: list, **kwargs: Any) -> list:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def insert(answer: Any) -> None:
    BigQueryInserter(FakeClient(answer), "crm").insert("order_events", [{}], ["id"])


def test_a_row_bigquery_refuses_as_invalid_is_poison():
    refused = [{"index": 0, "errors": [{"reason": "invalid", "location": "total"}]}]
    with pytest.raises(PoisonMessage, match="total: invalid"):
        insert(refused)


def test_a_request_over_the_size_limit_is_poison():
    with pytest.raises(PoisonMessage):
        insert(exceptions.BadRequest("Request payload size exceeds the limit: 10485760 bytes."))
    with pytest.raises(PoisonMessage):
        insert(exceptions.from_http_status(413, "Request Entity Too Large"))


@pytest.mark.parametrize(
    "answer",
    [
        [{"index": 0, "errors": [{"reason": "backendError", "location": ""}]}],
        [{"index": 0, "errors": [{"reason": "stopped", "location": ""}]}],
        exceptions.ServiceUnavailable("try later"),
        exceptions.InternalServerError("oops"),
    ],
)
def test_what_bigquery_may_take_later_is_retried(answer: Any):
    with pytest.raises(TransientError):
        insert(answer)
