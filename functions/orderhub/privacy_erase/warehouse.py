"""``Warehouse`` over the official BigQuery client: the CRM dataset, parameterised SQL.

Parameters are typed from their Python values (str, int, lists of str). Table names are
ours (the dataset's own list), never input. A DML statement BigQuery refuses because it
would touch rows still in the streaming buffer raises ``StillStreaming``; any other
statement it refuses (400) raises ``Refused``; the service failing raises ``TransientError``.
"""

from __future__ import annotations

from typing import Any

from orderhub.errors import TransientError
from orderhub.privacy_erase.erasure import Refused, StillStreaming
from orderhub.sinks.bigquery import build_row


def _parameter(name: str, value: Any) -> Any:
    from google.cloud import bigquery

    if isinstance(value, list | tuple):
        return bigquery.ArrayQueryParameter(name, "STRING", [str(v) for v in value])
    if isinstance(value, int):
        return bigquery.ScalarQueryParameter(name, "INT64", value)
    return bigquery.ScalarQueryParameter(name, "STRING", value)


class BigQueryWarehouse:
    def __init__(self, client: Any, dataset: str, *, timeout: float = 300.0) -> None:
        self._client = client
        self._dataset = dataset
        self._timeout = timeout

    def _sql(self, sql: str) -> str:
        return sql.replace("{ds}", f"`{self._client.project}.{self._dataset}`")

    def _run(self, sql: str, params: dict[str, Any]) -> Any:
        from google.api_core import exceptions
        from google.cloud import bigquery

        used = {k: v for k, v in params.items() if f"@{k}" in sql}  # only those it names
        config = bigquery.QueryJobConfig(
            query_parameters=[_parameter(k, v) for k, v in used.items()]
        )
        try:
            job = self._client.query(self._sql(sql), job_config=config)
            rows = job.result(timeout=self._timeout)
        except exceptions.BadRequest as exc:
            if "streaming buffer" in str(exc).lower():
                raise StillStreaming(str(exc)) from exc
            raise Refused(getattr(exc, "message", None) or exc.__class__.__name__) from exc
        except (exceptions.GoogleAPICallError, OSError) as exc:
            raise TransientError(f"BigQuery query failed: {exc.__class__.__name__}") from exc
        return job, rows

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        _job, rows = self._run(sql, params)
        return [dict(row.items()) for row in rows]

    def change(self, sql: str, **params: Any) -> int:
        job, _rows = self._run(sql, params)
        return int(job.num_dml_affected_rows or 0)

    def tables(self) -> list[str]:
        from google.api_core import exceptions

        try:
            listed = self._client.list_tables(f"{self._client.project}.{self._dataset}")
            return sorted(t.table_id for t in listed if t.table_type == "TABLE")
        except (exceptions.GoogleAPICallError, OSError) as exc:
            raise TransientError(f"BigQuery tables unavailable: {exc.__class__.__name__}") from exc

    def append(self, table: str, row: dict[str, Any], row_id: str) -> None:
        from google.api_core import exceptions

        name = f"{self._client.project}.{self._dataset}.{table}"
        try:
            schema = [f.to_api_repr() for f in self._client.get_table(name).schema]
            errors = self._client.insert_rows_json(
                name, [build_row(schema, row)], row_ids=[row_id], timeout=60
            )
        except (exceptions.GoogleAPICallError, OSError) as exc:
            raise TransientError(f"BigQuery append to {table} failed: {exc}") from exc
        if errors:
            raise TransientError(f"BigQuery refused the {table} row: {errors}")
