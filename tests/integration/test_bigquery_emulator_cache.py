"""The BigQuery emulator's translation cache (devstack/bq_launcher.py) never answers from a
stale translation: the same query text, asked again after a view it reads was replaced,
sees the new view, and rows streamed in between are seen, as BigQuery would."""

from __future__ import annotations

from google.cloud import bigquery

from tests.conftest import Crm


def _view(crm: Crm, name: str, sql: str) -> None:
    project, ds = crm.client.project, crm.dataset
    crm.client.delete_table(f"{project}.{ds}.{name}", not_found_ok=True)
    view = bigquery.Table(f"{project}.{ds}.{name}")
    view.view_query = sql.replace("{ds}", f"`{project}.{ds}`")
    crm.client.create_table(view)


def test_a_replaced_view_is_read_with_its_new_body(crm: Crm) -> None:
    _view(crm, "cache_probe", "SELECT 1 AS answer")
    query = "SELECT answer FROM {ds}.cache_probe"
    assert crm.query(query) == [{"answer": 1}]
    assert crm.query(query) == [{"answer": 1}]  # asked twice: the second may be cached

    _view(crm, "cache_probe", "SELECT 2 AS answer")

    assert crm.query(query) == [{"answer": 2}]


def test_rows_streamed_between_two_same_queries_are_seen(crm: Crm) -> None:
    project, ds = crm.client.project, crm.dataset
    table = crm.client.create_table(
        bigquery.Table(f"{project}.{ds}.cache_base", schema=[bigquery.SchemaField("a", "STRING")])
    )
    _view(crm, "cache_all", "SELECT a FROM {ds}.cache_base")
    query = "SELECT a FROM {ds}.cache_all ORDER BY a"
    assert crm.query(query) == []

    assert crm.client.insert_rows_json(table, [{"a": "x"}]) == []
    assert crm.query(query) == [{"a": "x"}]
    assert crm.client.insert_rows_json(table, [{"a": "y"}]) == []
    assert crm.query(query) == [{"a": "x"}, {"a": "y"}]
