"""``customers/data_request``: what the CRM holds about one customer, as one JSON document.

``scripts/privacy_export REQUEST_ID`` (or ``--customer ID``) writes it to a file for the
operator to send to the shop owner, and appends an ``exported`` audit row (ids only).
The customer is found as the erasure finds them (``erasure.find_subject``): their Shopify
id, the orders the request names, and the orders carrying the same e-mail or phone. The
file holds their customer versions, orders, refunds, the chat contacts that gave their
e-mail or phone (every touch), the managers' decisions that such a contact is (or is not)
the customer (``contact_identities``), and the two-way sync's records of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orderhub.privacy_erase.erasure import (
    AUDIT_TABLE,
    CONTACT_ROWS,
    CUSTOMER_ROWS,
    DATA_REQUEST,
    ORDER_ROWS,
    Outcome,
    Request,
    Warehouse,
    audit_row,
    find_subject,
)

QUERIES = {
    "customers": f"""SELECT * EXCEPT (entity) FROM {{ds}}.customer_events
        WHERE {CUSTOMER_ROWS} ORDER BY version""",  # noqa: S608 (constant fragments)
    "orders": f"""SELECT * EXCEPT (entity) FROM {{ds}}.order_events
        WHERE {ORDER_ROWS} ORDER BY order_id, version""",  # noqa: S608
    "refunds": """SELECT * EXCEPT (entity) FROM {ds}.refund_events
        WHERE shop = @shop AND order_id IN UNNEST(@orders) ORDER BY order_id""",
    "chat_contacts": f"""SELECT * EXCEPT (entity) FROM {{ds}}.contact_events
        WHERE {CONTACT_ROWS} ORDER BY contact_id, version""",  # noqa: S608
    "contact_identities": f"""SELECT * FROM {{ds}}.contact_identities
        WHERE LOWER(email) IN UNNEST(@emails) OR phone IN UNNEST(@phones)
          OR REGEXP_REPLACE(COALESCE(phone, ''), '[^0-9]', '') IN UNNEST(@digits)
          OR {CONTACT_ROWS} ORDER BY contact_id, occurred_at""",  # noqa: S608
    "sync_records": """SELECT * EXCEPT (held_event) FROM {ds}.sync_log
        WHERE record_id IN UNNEST(@orders) OR record_id IN UNNEST(@customers)
          OR LOWER(record_id) IN UNNEST(@needles) ORDER BY attempted_at""",
}

REQUEST_SQL = """SELECT request_id, request, shop, customer_id, order_ids, occurred_at
FROM {ds}.privacy_requests WHERE request_id = @request_id ORDER BY occurred_at LIMIT 1"""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # Decimal and the like, as written


def export_customer(request: Request, warehouse: Warehouse) -> dict[str, Any]:
    subject = find_subject(request, warehouse)
    params = subject.params()
    found = {name: warehouse.rows(sql, **params) for name, sql in QUERIES.items()}
    document: dict[str, Any] = _plain(
        {
            "request_id": request.request_id,
            "shop": request.shop,
            "customer_id": request.customer_id,
            **found,
        }
    )
    return document


def find_request(warehouse: Warehouse, request_id: str) -> Request | None:
    rows = warehouse.rows(REQUEST_SQL, request_id=request_id)
    if not rows:
        return None
    row = rows[0]
    return Request(
        request_id=row["request_id"],
        request=row["request"],
        shop=row["shop"],
        customer_id=row["customer_id"],
        order_ids=tuple(row["order_ids"] or ()),
        requested_at=row["occurred_at"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/privacy_export", description="Write a customer's data as JSON."
    )
    parser.add_argument("request_id", nargs="?", help="a privacy_requests request_id")
    parser.add_argument("--customer", help="a Shopify customer id instead of a request")
    parser.add_argument("--shop", help="the shop (with --customer)")
    parser.add_argument("--out", type=Path, help="file to write (default: privacy-export-*.json)")
    args = parser.parse_args(argv)

    from orderhub import gcp
    from orderhub.privacy_erase.settings import PrivacySettings
    from orderhub.privacy_erase.warehouse import BigQueryWarehouse

    settings = PrivacySettings.from_env()
    client = gcp.bigquery_client(settings.project, settings.bigquery_endpoint)
    warehouse = BigQueryWarehouse(client, settings.dataset)
    if args.request_id:
        request = find_request(warehouse, args.request_id)
        if request is None:
            print(f"privacy_export: no request {args.request_id!r}", file=sys.stderr)
            return 2
    elif args.customer and args.shop:
        request = Request(
            f"manual:{args.customer}", DATA_REQUEST, args.shop, args.customer, (), None
        )
    else:
        parser.error("give a REQUEST_ID, or --customer ID --shop SHOP")
    document = export_customer(request, warehouse)
    safe = "".join(c if c.isalnum() else "-" for c in request.request_id)
    out = args.out or Path(f"privacy-export-{safe}.json")
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    os.chmod(out, 0o600)
    now = datetime.now(UTC)
    orders = sorted({o["order_id"] for o in document["orders"]})
    row = audit_row(Outcome(request, orders), status="exported", now=now)
    warehouse.append(AUDIT_TABLE, row, row["erasure_id"])
    print(
        f"privacy_export: {out} ({len(document['customers'])} customer version(s), "
        f"{len(orders)} order(s)); send it to the shop owner, then delete it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
