"""Create the CRM dataset, tables and views from ``schemas/`` (the files Terraform reads).

Idempotent: existing tables are left alone, views are replaced.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from string import Template
from typing import Any

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def manifest() -> dict[str, Any]:
    return json.loads((SCHEMAS / "dataset.json").read_text())


def table_schema(name: str) -> list[dict[str, Any]]:
    return json.loads((SCHEMAS / "bigquery" / f"{name}.json").read_text())


def view_sql(name: str, project: str, dataset: str, timezone: str | None = None) -> str:
    """A view's SQL with its placeholders filled; ``timezone`` (the shop's calendar, an
    IANA name) defaults to ``SHOP_TIME_ZONE``, else UTC."""
    import os

    text = (SCHEMAS / "views" / f"{name}.sql").read_text()
    zone = timezone or os.environ.get("SHOP_TIME_ZONE", "").strip() or "UTC"
    return Template(text).substitute(project=project, dataset=dataset, timezone=zone)


def bigquery_client(project: str, endpoint: str) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def create_dataset(client: Any, dataset: str) -> None:
    from google.cloud import bigquery

    project = client.project
    client.create_dataset(f"{project}.{dataset}", exists_ok=True, timeout=30)
    spec = manifest()
    for name, meta in spec["tables"].items():
        fields = [bigquery.SchemaField.from_api_repr(f) for f in table_schema(name)]
        table = bigquery.Table(f"{project}.{dataset}.{name}", schema=fields)
        table.description = meta["description"]
        table.time_partitioning = bigquery.TimePartitioning(field=meta["partition_field"])
        table.clustering_fields = meta["clustering"]
        client.create_table(table, exists_ok=True, timeout=30)
    for name in spec["views"]:
        view = bigquery.Table(f"{project}.{dataset}.{name}")
        view.view_query = view_sql(name, project, dataset)
        client.delete_table(view, not_found_ok=True, timeout=30)
        client.create_table(view, timeout=30)


def wait_for_rows(values: dict[str, str], view: str, *, expected: int, timeout: float) -> None:
    """Wait until ``view`` of the local stack's dataset holds ``expected`` rows (the push
    subscriptions carry the demo's data in); say so, and go on, if it does not in time."""
    client = bigquery_client(values["GOOGLE_CLOUD_PROJECT"], values["BIGQUERY_EMULATOR_HOST"])
    table = f"{values['GOOGLE_CLOUD_PROJECT']}.{values['BIGQUERY_DATASET']}.{view}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(client.query(f"SELECT COUNT(*) AS n FROM `{table}`").result())  # noqa: S608
        if rows[0]["n"] >= expected:
            return
        time.sleep(0.25)
    print(f"demo: the {view} did not all reach {table} in {timeout:.0f}s; see .dev/logs/")
