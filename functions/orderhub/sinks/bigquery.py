"""Canonical events → append-only rows in the BigQuery CRM. Never DML.

Rows are shaped by the *table's own schema* (``schemas/bigquery/*.json``, the files
Terraform and the dev stack create the tables from): each column is filled from the
event envelope, a few derived values, or the entity field of the same name. Adding a
column is a schema change only. ``insertId`` is the event id (best-effort de-duplication
in BigQuery); the views de-duplicate for certain.

What BigQuery would refuse is a poison message, quarantined rather than retried until
it dead-letters: a value outside its column (a ``NUMERIC`` beyond 29 integer digits),
a row over the streaming limit (``MAX_ROW_BYTES``), a row BigQuery answers ``invalid``
for, or a request over its size limit. A raw body longer than ``RAW_INLINE_CHARS`` is
stored by reference: its ``raw_events`` row has no body and ``meta.body_parts``, and the
body follows in that many rows ``{raw_id}:part:{n}`` (kind ``body_part``), each sent
alone, so a large payload never makes a request too big. Join them back with
``STRING_AGG(body, '' ORDER BY JSON_VALUE(meta.part))``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from orderhub import inbound
from orderhub.errors import PoisonMessage, TransientError
from orderhub.event import Event, iso, parse_time

#: entity_type → table of its versions.
TABLE_OF_ENTITY = {
    "order": "order_events",
    "refund": "refund_events",
    "customer": "customer_events",
    "product": "product_events",
    "quarantine": "quarantine",
    "privacy": "privacy_requests",
    "contact": "contact_events",
    "order_action": "order_actions",
    "shop": "shop_events",
    "contact_identity": "contact_identities",
    "customer_comment": "customer_comments",
}
RAW_TABLE = "raw_events"
#: Held and released inbound events are logged here (``orderhub.inbound``).
SYNC_LOG_TABLE = "sync_log"
#: BigQuery's streaming limit is 10 MB per row and per request; stay well under it.
MAX_ROW_BYTES = 9_000_000
#: Raw bodies longer than this go in parts (see the module docstring).
RAW_INLINE_CHARS = 1_000_000
#: BigQuery NUMERIC: 29 digits before the point, 9 after.
NUMERIC_INTEGER_DIGITS = 29

Field = Mapping[str, Any]  # one BigQuery schema field, in its JSON (API) form


class Inserter(Protocol):
    def schema(self, table: str) -> Sequence[Field]: ...

    def insert(self, table: str, rows: list[dict[str, Any]], row_ids: list[str]) -> None: ...


def _convert(field: Field, value: Any) -> Any:
    if value is None:
        return [] if field.get("mode") == "REPEATED" else None
    if field.get("mode") == "REPEATED":
        items = value if isinstance(value, list) else [value]
        scalar = {**field, "mode": "NULLABLE"}
        return [_convert(scalar, item) for item in items if item is not None]
    kind = field["type"].upper()
    if kind in ("RECORD", "STRUCT"):
        if not isinstance(value, Mapping):
            return None
        return {sub["name"]: _convert(sub, value.get(sub["name"])) for sub in field["fields"]}
    if kind == "JSON":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, Mapping) and "amount" in value:  # Money in a scalar column
        value = value["amount"]
    if kind in ("NUMERIC", "BIGNUMERIC"):
        number = Decimal(str(value))
        if kind == "NUMERIC" and number.is_finite() and number.adjusted() >= NUMERIC_INTEGER_DIGITS:
            raise ValueError(f"{field['name']} is beyond BigQuery's NUMERIC range")
        if not number.is_finite():
            raise ValueError(f"{field['name']} is not a finite number")
        return str(number)
    if kind in ("INTEGER", "INT64"):
        return int(value)
    if kind in ("FLOAT", "FLOAT64"):
        return float(value)
    if kind in ("BOOLEAN", "BOOL"):
        return bool(value)
    if kind == "TIMESTAMP":
        return iso(value if isinstance(value, datetime) else parse_time(str(value)))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def build_row(schema: Sequence[Field], values: Mapping[str, Any]) -> dict[str, Any]:
    """A row with exactly the schema's columns, each converted to its column type."""
    return {field["name"]: _convert(field, values.get(field["name"])) for field in schema}


def event_values(event: Event, ingested_at: datetime) -> dict[str, Any]:
    """Every value a table may ask for: envelope, derived, then the entity's fields."""
    raw = event.get("raw")
    return {
        **event["entity"],
        **{k: v for k, v in event.items() if k not in ("entity", "raw")},
        "entity": event["entity"],
        "raw_id": raw["raw_id"] if raw else None,
        "ingested_at": ingested_at,
    }


def raw_values(event: Event) -> dict[str, Any] | None:
    raw = event.get("raw")
    if raw is None:
        return None
    return {**raw, "source": event["source"], "shop": event["shop"]}


def raw_rows(schema: Sequence[Field], raw: Mapping[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The ``raw_events`` rows of one raw payload: one, or a head and its body parts."""
    body = raw.get("body")
    if not isinstance(body, str) or len(body) <= RAW_INLINE_CHARS:
        return [(build_row(schema, raw), str(raw["raw_id"]))]
    parts = [body[i : i + RAW_INLINE_CHARS] for i in range(0, len(body), RAW_INLINE_CHARS)]
    meta = {**(raw.get("meta") or {}), "body_parts": len(parts), "body_chars": len(body)}
    head = build_row(schema, {**raw, "body": None, "meta": meta})
    rows = [(head, str(raw["raw_id"]))]
    for number, part in enumerate(parts):
        part_id = f"{raw['raw_id']}:part:{number}"
        values = {
            **raw,
            "raw_id": part_id,
            "kind": "body_part",
            "body": part,
            "meta": {"part_of": raw["raw_id"], "part": number},
        }
        rows.append((build_row(schema, values), part_id))
    return rows


def _fits(table: str, row: dict[str, Any]) -> None:
    size = len(json.dumps(row, ensure_ascii=False).encode("utf-8"))
    if size > MAX_ROW_BYTES:
        raise ValueError(f"a {table} row of {size} bytes is over BigQuery's 10 MB limit")


def write_event(event: Event, *, inserter: Inserter, now: Callable[[], datetime]) -> list[str]:
    """Append the event (and its raw payload) to the CRM; returns the tables written.

    Safe to repeat: a redelivered event appends rows with the same ids, which the views
    (and BigQuery's insertId) collapse. Values that do not fit their columns, or a row
    over BigQuery's size limit, raise ``PoisonMessage`` before anything is written; a row
    BigQuery refuses raises it from ``insert``.
    """
    hold = inbound.state(event)
    # Held (its inbound switch is off): the raw payload and a sync_log row, not the CRM's
    # tables. Released (brought in later): the CRM's tables, its raw payload kept already.
    table = SYNC_LOG_TABLE if hold == "held" else TABLE_OF_ENTITY[event["entity_type"]]
    inserts: list[tuple[str, dict[str, Any], str]] = []
    try:
        raw = raw_values(event) if hold != "released" else None
        if raw is not None:
            for values, row_id in raw_rows(inserter.schema(RAW_TABLE), raw):
                _fits(RAW_TABLE, values)
                inserts.append((RAW_TABLE, values, row_id))
        if hold == "held":
            logged = inbound.log_row(event, at=now())
            row = build_row(inserter.schema(table), logged)
            _fits(table, row)
            inserts.append((table, row, logged["log_id"]))
        else:
            row = build_row(inserter.schema(table), event_values(event, now()))
            _fits(table, row)
            inserts.append((table, row, event["event_id"]))
        if hold == "released":
            logged = inbound.log_row(event, at=now())
            log_row = build_row(inserter.schema(SYNC_LOG_TABLE), logged)
            inserts.append((SYNC_LOG_TABLE, log_row, logged["log_id"]))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise PoisonMessage(f"event {event['event_id']} does not fit {table}: {exc}") from exc
    for name, values, row_id in inserts:
        inserter.insert(name, [values], [row_id])
    return sorted({name for name, _, _ in inserts}, key=[n for n, _, _ in inserts].index)


#: ``insertErrors`` reasons that retrying the same row cannot fix.
REFUSED_FOR_GOOD = ("invalid", "invalidQuery")


class BigQueryInserter:
    """``Inserter`` over the official client; schemas read from the tables, once each."""

    def __init__(self, client: Any, dataset: str, *, timeout: float = 30.0) -> None:
        self._client = client
        self._dataset = f"{client.project}.{dataset}"
        self._timeout = timeout
        self._schemas: dict[str, list[Field]] = {}

    def schema(self, table: str) -> Sequence[Field]:
        if table not in self._schemas:
            from google.api_core import exceptions

            try:
                # No client-side retry (its default keeps trying for 10 minutes while the
                # push waits): Pub/Sub redelivery is the retry, as for inserts.
                found = self._client.get_table(
                    f"{self._dataset}.{table}", retry=None, timeout=self._timeout
                )
            except exceptions.GoogleAPICallError as exc:
                raise TransientError(f"BigQuery schema of {table} unavailable: {exc}") from exc
            except OSError as exc:  # connection refused / reset: the service is away
                raise TransientError(f"BigQuery unreachable: {exc}") from exc
            self._schemas[table] = [f.to_api_repr() for f in found.schema]
        return self._schemas[table]

    def insert(self, table: str, rows: list[dict[str, Any]], row_ids: list[str]) -> None:
        from google.api_core import exceptions

        try:
            errors = self._client.insert_rows_json(
                f"{self._dataset}.{table}",
                rows,
                row_ids=row_ids,
                retry=None,  # Pub/Sub redelivery is our retry, with backoff and a dead letter
                timeout=self._timeout,
            )
        except exceptions.GoogleAPICallError as exc:
            if isinstance(exc, exceptions.BadRequest) or exc.code == 413:
                # The request itself is refused (e.g. over the 10 MB request limit):
                # sending it again cannot help.
                raise PoisonMessage(f"BigQuery refused the insert into {table}: {exc}") from exc
            raise TransientError(f"BigQuery insert into {table} failed: {exc}") from exc
        except OSError as exc:  # connection refused / reset: the service is away
            raise TransientError(f"BigQuery unreachable: {exc}") from exc
        if errors:
            # Where and why only: BigQuery's messages may quote the refused values (PII).
            problems = [e for row in errors for e in row.get("errors") or []]
            where = "; ".join(sorted({f"{e.get('location')}: {e.get('reason')}" for e in problems}))
            if any(e.get("reason") in REFUSED_FOR_GOOD for e in problems):
                raise PoisonMessage(f"BigQuery refused a row in {table} for good: {where}")
            raise TransientError(f"BigQuery refused rows in {table}: {where}")


#: resource → (table, id column) for "which version does the CRM hold?"
VERSION_TABLES = {
    "orders": ("order_events", "order_id"),
    "customers": ("customer_events", "customer_id"),
    "products": ("product_events", "product_id"),
    "refunds": ("refund_events", "refund_id"),
}


class BigQueryVersions:
    """The newest version of each Shopify entity the CRM holds (one parameterised query)."""

    def __init__(self, client: Any, dataset: str, *, timeout: float = 60.0) -> None:
        self.client = client
        self._client = client
        self._dataset = f"{client.project}.{dataset}"
        self._timeout = timeout

    def __call__(self, resource: str, shop: str, ids: Sequence[str]) -> dict[str, int]:
        if not ids:
            return {}
        from google.cloud import bigquery

        table, column = VERSION_TABLES[resource]
        sql = (
            f"SELECT {column} AS id, MAX(version) AS version "  # noqa: S608 (names are ours)
            f"FROM `{self._dataset}.{table}` "
            f"WHERE source = 'shopify' AND shop = @shop AND {column} IN UNNEST(@ids) "
            f"GROUP BY {column}"
        )
        if resource == "orders":
            # An order the CRM wrote into Shopify is held under its CRM key; its versions
            # from Shopify (the echo) carry the Shopify id.
            sql = (
                "SELECT id, MAX(version) AS version FROM ("  # noqa: S608 (names are ours)
                f"SELECT order_id AS id, version FROM `{self._dataset}.{table}` "
                "WHERE source = 'shopify' AND shop = @shop AND order_id IN UNNEST(@ids) "
                "UNION ALL "
                f"SELECT shopify_order_id AS id, version FROM `{self._dataset}.{table}` "
                "WHERE source != 'shopify' AND shopify_order_id IN UNNEST(@ids) "
                "AND STARTS_WITH(shopify_admin_url, CONCAT('https://', @shop, '/'))"
                ") GROUP BY id"
            )
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("shop", "STRING", shop),
                bigquery.ArrayQueryParameter("ids", "STRING", list(ids)),
            ]
        )
        rows = self._client.query(sql, job_config=config).result(timeout=self._timeout)
        return {str(row["id"]): int(row["version"]) for row in rows}


#: resource → (view, id column, extra condition) for "which ids does the CRM hold as existing?"
EXISTING_VIEWS = {
    "customers": ("customers", "customer_id", "source = 'shopify'"),
    "products": ("products", "product_id", "TRUE"),
    # Shopify reads orders of the last 60 days only without read_all_orders.
    "orders": (
        "orders",
        "order_id",
        "source = 'shopify' AND created_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 55 DAY)",
    ),
}


class BigQueryExisting:
    """The ids of a shop's customers, products or orders that the CRM's views hold as
    existing (deleted ones are left out by the views): the periodic id check's list."""

    def __init__(self, client: Any, dataset: str, *, timeout: float = 60.0) -> None:
        self._client = client
        self._dataset = f"{client.project}.{dataset}"
        self._timeout = timeout

    def __call__(self, resource: str, shop: str) -> list[str]:
        from google.cloud import bigquery

        view, column, condition = EXISTING_VIEWS[resource]
        sql = (
            f"SELECT DISTINCT {column} AS id "  # noqa: S608 (names are ours)
            f"FROM `{self._dataset}.{view}` WHERE shop = @shop AND {condition}"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("shop", "STRING", shop)]
        )
        rows = self._client.query(sql, job_config=config).result(timeout=self._timeout)
        return [str(row["id"]) for row in rows]
