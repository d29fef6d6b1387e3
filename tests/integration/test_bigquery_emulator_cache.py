"""The BigQuery emulator's translation cache and resident views (devstack/bq_launcher.py) never
answer from a stale translation or a stale view: the same query text, asked again after a
view it reads (or a view under that one) was replaced, sees the new view; rows streamed in
between are seen; a deleted view is not found; a row-access policy still filters, as
BigQuery would."""

from __future__ import annotations

import pytest
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


def test_writes_keep_working_without_table_history(crm: Crm) -> None:
    """The emulator keeps no copy of a table per write (no ``AUTO`` snapshots): streamed
    rows, DML and the views over them still give BigQuery's answers."""
    project, ds = crm.client.project, crm.dataset
    table = crm.client.create_table(
        bigquery.Table(
            f"{project}.{ds}.history_base",
            schema=[bigquery.SchemaField("a", "STRING"), bigquery.SchemaField("n", "INT64")],
        )
    )
    _view(crm, "history_view", "SELECT a, n FROM {ds}.history_base")
    for n in range(3):
        assert crm.client.insert_rows_json(table, [{"a": f"r{n}", "n": n}]) == []
    crm.query("UPDATE {ds}.history_base SET n = n + 10 WHERE a = 'r1'")
    crm.query("DELETE FROM {ds}.history_base WHERE a = 'r0'")

    assert crm.query("SELECT a, n FROM {ds}.history_view ORDER BY a") == [
        {"a": "r1", "n": 11},
        {"a": "r2", "n": 2},
    ]


def test_time_travel_is_refused_in_words_rather_than_answered_from_today(crm: Crm) -> None:
    """Without table history a ``FOR SYSTEM_TIME AS OF`` query could only read today's rows,
    a wrong answer that looks right: it is refused, saying how to turn history on."""
    project, ds = crm.client.project, crm.dataset
    table = crm.client.create_table(
        bigquery.Table(f"{project}.{ds}.history_tt", schema=[bigquery.SchemaField("a", "STRING")])
    )
    assert crm.client.insert_rows_json(table, [{"a": "x"}]) == []

    with pytest.raises(Exception, match="ORDERHUB_BQ_TIME_TRAVEL=1"):
        crm.query(
            "SELECT a FROM {ds}.history_tt"
            " FOR SYSTEM_TIME AS OF TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 SECOND)"
        )


def _twin(crm: Crm) -> Crm:
    """A second test dataset with every table and view, as the next test's ``crm`` is."""
    from devstack import dataset
    from tests.conftest import unique

    name = unique("t").replace("-", "_")
    dataset.create_dataset(crm.client, name)
    return Crm(crm.client, name)


def test_one_query_on_two_test_datasets_reads_each_its_own_rows(crm: Crm) -> None:
    """A translation is kept with the test dataset's name stood for, so the next dataset's
    same query reuses it: each must still read its own tables (here through the
    ``orders`` view, which inlines its tables)."""
    other = _twin(crm)
    table = crm.client.get_table(f"{crm.client.project}.{crm.dataset}.order_events")
    row = {
        "event_id": "e-cache-1",
        "event_type": "order.created",
        "source": "manual",
        "shop": "cache.example",
        "occurred_at": "2026-12-01T10:00:00Z",
        "ingested_at": "2026-12-01T10:00:01Z",
        "version": 1,
        "order_id": "C-1",
        "name": "C-1",
        "created_at": "2026-12-01T10:00:00Z",
        "currency": "EUR",
        "total": "9.50",
    }
    assert crm.client.insert_rows_json(table, [row]) == []
    query = "SELECT order_id FROM {ds}.orders WHERE shop = 'cache.example'"
    for _ in range(2):
        assert crm.query(query) == [{"order_id": "C-1"}]
        assert other.query(query) == []


def test_a_view_that_differs_in_the_next_dataset_is_translated_again(crm: Crm) -> None:
    other = _twin(crm)
    _view(crm, "cache_probe", "SELECT 1 AS answer")
    _view(other, "cache_probe", "SELECT 2 AS answer")
    query = "SELECT answer FROM {ds}.cache_probe"
    assert crm.query(query) == [{"answer": 1}]
    assert other.query(query) == [{"answer": 2}]
    assert crm.query(query) == [{"answer": 1}]


def test_a_view_under_a_view_replaced_is_read_with_its_new_body(crm: Crm) -> None:
    """Views are answered by DuckDB views made once from their text (``_ResidentViews``):
    replacing the view under another one makes its DuckDB view again, for a query kept
    from before and for a new one."""
    _view(crm, "inner_probe", "SELECT 1 AS answer")
    _view(crm, "outer_probe", "SELECT answer + 10 AS answer FROM {ds}.inner_probe")
    kept = "SELECT answer FROM {ds}.outer_probe"
    assert crm.query(kept) == [{"answer": 11}]

    _view(crm, "inner_probe", "SELECT 2 AS answer")

    assert crm.query(kept) == [{"answer": 12}]
    assert crm.query("SELECT answer * 2 AS twice FROM {ds}.outer_probe") == [{"twice": 24}]


def test_a_deleted_view_is_not_found(crm: Crm) -> None:
    from google.api_core.exceptions import NotFound

    _view(crm, "gone_probe", "SELECT 1 AS answer")
    query = "SELECT answer FROM {ds}.gone_probe"
    assert crm.query(query) == [{"answer": 1}]

    crm.client.delete_table(f"{crm.client.project}.{crm.dataset}.gone_probe")

    with pytest.raises(NotFound):
        crm.query(query)


def test_a_row_access_policy_filters_through_a_view(crm: Crm) -> None:
    project, ds = crm.client.project, crm.dataset
    table = crm.client.create_table(
        bigquery.Table(f"{project}.{ds}.rap_base", schema=[bigquery.SchemaField("n", "INT64")])
    )
    assert crm.client.insert_rows_json(table, [{"n": 1}, {"n": 2}, {"n": 3}]) == []
    _view(crm, "rap_view", "SELECT n FROM {ds}.rap_base")
    assert crm.query("SELECT n FROM {ds}.rap_view ORDER BY n") == [{"n": 1}, {"n": 2}, {"n": 3}]

    crm.query(
        "CREATE ROW ACCESS POLICY over_one ON {ds}.rap_base"
        " GRANT TO ('allUsers') FILTER USING (n > 1)"
    )

    assert crm.query("SELECT n FROM {ds}.rap_view ORDER BY n") == [{"n": 2}, {"n": 3}]
    assert crm.query("SELECT COUNT(*) AS c FROM {ds}.rap_view") == [{"c": 2}]


def test_a_table_made_again_under_a_view_is_read_with_its_new_columns(crm: Crm) -> None:
    """A view's DuckDB twin keeps the columns it was made with: a table under it made
    again with another type makes the twin again."""
    project, ds = crm.client.project, crm.dataset
    base = f"{project}.{ds}.remade_base"
    table = crm.client.create_table(
        bigquery.Table(base, schema=[bigquery.SchemaField("n", "INT64")])
    )
    assert crm.client.insert_rows_json(table, [{"n": 1}]) == []
    _view(crm, "remade_view", "SELECT n FROM {ds}.remade_base")
    assert crm.query("SELECT n FROM {ds}.remade_view") == [{"n": 1}]

    crm.client.delete_table(base)
    table = crm.client.create_table(
        bigquery.Table(base, schema=[bigquery.SchemaField("n", "STRING")])
    )
    assert crm.client.insert_rows_json(table, [{"n": "one"}]) == []

    assert crm.query("SELECT n FROM {ds}.remade_view") == [{"n": "one"}]
