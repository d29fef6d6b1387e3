"""The privacy job's core: which requests are open, what a customer left where, and erasing it.

Everything the stores do goes through two small collaborators, so the core is plain code:

* ``Warehouse`` runs parameterised SQL on the CRM dataset (``{ds}`` stands for it) and
  lists its tables; ``StillStreaming`` means BigQuery refused DML on rows streamed in the
  last ~30-90 minutes, which a later run will be allowed to change.
* ``Documents`` nulls Firestore fields whose text holds one of the customer's needles.

A customer's *needles* are the e-mail addresses (lower case) and phone numbers (E.164) the
CRM holds for their Shopify id and named orders. Their keyed digests (``digest``) are kept
in the audit row, so a later run, after the rows the needles were found through are gone,
still searches every table for them: a request is ``done`` only when that final search
(raw needles and digests, every table and the Firestore documents) finds nothing. Orders
that came by e-mail (whose ``shop`` is the mailbox) or from the form carry no Shopify id:
they are found by those needles, in whatever ``shop`` they are kept.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from orderhub.errors import OrderHubError

REDACT = "customers/redact"
SHOP_REDACT = "shop/redact"
DATA_REQUEST = "customers/data_request"
AUDIT_TABLE = "privacy_erasures"
REQUESTS_TABLE = "privacy_requests"
#: Kept on shop/redact: the requests themselves and the audit (ids only), as proof.
KEPT_ON_SHOP_REDACT = frozenset({REQUESTS_TABLE, AUDIT_TABLE})


class StillStreaming(OrderHubError):
    """BigQuery will not UPDATE/DELETE rows still in the streaming buffer; try later."""


class Refused(OrderHubError):
    """BigQuery refused one statement (e.g. a table without the column it names): that
    table is reported as not erased, the others go ahead."""


class Warehouse(Protocol):
    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]: ...

    def change(self, sql: str, **params: Any) -> int: ...

    def tables(self) -> list[str]: ...

    def append(self, table: str, row: dict[str, Any], row_id: str) -> None: ...


class Documents(Protocol):
    def null_fields_holding(self, needles: Sequence[str]) -> int: ...

    def holding(self, needles: Sequence[str]) -> int: ...


def digest(key: str, needle: str) -> str:
    """A keyed digest of one identifier, as the final search computes it in BigQuery
    (``TO_HEX(SHA256(CONCAT(@key, token)))``): the audit keeps these, never the needle."""
    return hashlib.sha256((key + needle).encode()).hexdigest()


@dataclass(frozen=True)
class Request:
    request_id: str
    request: str
    shop: str
    customer_id: str | None
    order_ids: tuple[str, ...]
    requested_at: datetime | None


@dataclass
class Subject:
    """What the CRM holds of one customer: ids, and the needles to look for."""

    shop: str
    customer_ids: set[str] = field(default_factory=set)
    order_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    #: The key of ``digest`` (the ``PRIVACY_DIGEST_KEY`` secret).
    key: str = ""

    @property
    def needles(self) -> list[str]:
        return sorted(n for n in self.emails | self.phones if len(n) >= 5)

    @property
    def digits(self) -> list[str]:
        """The phones as bare digits (a chat contact's phone compared digit by digit)."""
        return sorted({re.sub(r"[^0-9]", "", p) for p in self.phones} - {""})

    def params(self) -> dict[str, Any]:
        """The query parameters every statement of the erasure takes."""
        return {
            "shop": self.shop,
            "orders": sorted(self.order_ids),
            "customers": sorted(self.customer_ids),
            "emails": sorted(self.emails),
            "phones": sorted(self.phones),
            "digits": self.digits,
            "needles": self.needles,
            "key": self.key,
        }


@dataclass
class Outcome:
    request: Request
    order_ids: list[str]
    erased: dict[str, int] = field(default_factory=dict)
    not_erased: dict[str, str] = field(default_factory=dict)
    #: Keyed digests of every identifier this request ever found (this run and earlier).
    digests: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "pending" if self.not_erased else "done"


PENDING_SQL = """
SELECT request_id, request, shop, customer_id, order_ids, occurred_at
FROM {ds}.privacy_requests
WHERE request IN UNNEST(@kinds)
  AND request_id NOT IN (
    SELECT request_id FROM {ds}.privacy_erasures WHERE status = 'done')
ORDER BY occurred_at
"""


def open_requests(
    warehouse: Warehouse, kinds: Sequence[str] = (REDACT, SHOP_REDACT)
) -> list[Request]:
    """Requests without a ``done`` audit row, one per request id (oldest first)."""
    merged: dict[str, Request] = {}
    for row in warehouse.rows(PENDING_SQL, kinds=list(kinds)):
        found = merged.get(row["request_id"])
        orders = tuple(sorted({*(found.order_ids if found else ()), *(row["order_ids"] or [])}))
        merged[row["request_id"]] = Request(
            request_id=row["request_id"],
            request=row["request"],
            shop=row["shop"],
            customer_id=row["customer_id"],
            order_ids=orders,
            requested_at=found.requested_at if found else row["occurred_at"],
        )
    return list(merged.values())


#: The customer's order rows: by Shopify ids in the request's shop, by needles in any shop.
ORDER_ROWS = """(shop = @shop AND (order_id IN UNNEST(@orders)
    OR customer.id IN UNNEST(@customers)))
  OR LOWER(customer.email) IN UNNEST(@emails) OR customer.phone IN UNNEST(@phones)
  OR shipping_address.phone IN UNNEST(@phones)"""
#: The customer's own versions, likewise.
CUSTOMER_ROWS = """(shop = @shop AND customer_id IN UNNEST(@customers))
  OR LOWER(email) IN UNNEST(@emails) OR phone IN UNNEST(@phones)
  OR default_address.phone IN UNNEST(@phones)"""

#: A chat contact that gave the customer's phone or e-mail: all its touches.
CONTACT_ROWS = """contact_id IN (SELECT contact_id FROM {ds}.contact_events
    WHERE LOWER(email) IN UNNEST(@emails) OR phone IN UNNEST(@phones)
      OR REGEXP_REPLACE(COALESCE(phone, ''), '[^0-9]', '') IN UNNEST(@digits)
      OR EXISTS (SELECT 1 FROM UNNEST(@needles) AS n
        WHERE STRPOS(LOWER(TO_JSON_STRING(custom_fields)), n) > 0))"""

IDENTIFIERS_SQL = f"""
SELECT LOWER(customer.email) AS email, customer.phone AS phone,
       shipping_address.phone AS phone2, order_id, customer.id AS customer_id, shop
FROM {{ds}}.order_events WHERE {ORDER_ROWS}
UNION ALL
SELECT LOWER(email), phone, default_address.phone, CAST(NULL AS STRING), customer_id, shop
FROM {{ds}}.customer_events WHERE {CUSTOMER_ROWS}
"""  # noqa: S608 (constant fragments, no input)


def find_subject(
    request: Request, warehouse: Warehouse, *, rounds: int = 3, key: str = ""
) -> Subject:
    """Follow ids to needles and needles to more orders until nothing new turns up."""
    subject = Subject(shop=request.shop, order_ids=set(request.order_ids), key=key)
    if request.customer_id:
        subject.customer_ids.add(request.customer_id)
    for _ in range(rounds):
        before = (len(subject.order_ids), len(subject.emails), len(subject.phones))
        for row in warehouse.rows(IDENTIFIERS_SQL, **subject.params()):
            subject.emails |= {row["email"]} if row["email"] else set()
            subject.phones |= {p for p in (row["phone"], row["phone2"]) if p}
            if row["order_id"]:
                subject.order_ids.add(row["order_id"])
            if row["customer_id"] and row["shop"] == subject.shop:
                subject.customer_ids.add(row["customer_id"])
        if (len(subject.order_ids), len(subject.emails), len(subject.phones)) == before:
            break
    return subject


#: (table, statement) nulling the personal fields of one customer's rows. Ids, amounts,
#: items and statuses stay, so the sales figures do not change.
CUSTOMER_STATEMENTS: tuple[tuple[str, str], ...] = (
    (  # first: it finds the payloads through the rows the next statements change
        "raw_events",
        f"""UPDATE {{ds}}.raw_events SET body = NULL
        WHERE body IS NOT NULL AND (raw_id IN (
            SELECT raw_id FROM {{ds}}.order_events WHERE raw_id IS NOT NULL AND ({ORDER_ROWS})
            UNION ALL SELECT raw_id FROM {{ds}}.refund_events
            WHERE shop = @shop AND order_id IN UNNEST(@orders) AND raw_id IS NOT NULL
            UNION ALL SELECT raw_id FROM {{ds}}.customer_events
            WHERE raw_id IS NOT NULL AND ({CUSTOMER_ROWS})
            UNION ALL SELECT raw_id FROM {{ds}}.contact_events
            WHERE raw_id IS NOT NULL AND ({CONTACT_ROWS})
            UNION ALL SELECT raw_id FROM {{ds}}.quarantine
            WHERE raw_id IS NOT NULL AND EXISTS (SELECT 1 FROM UNNEST(@needles) AS n
              WHERE STRPOS(LOWER(CONCAT(reason, COALESCE(topic, ''), COALESCE(ref, ''))), n) > 0)
            UNION ALL SELECT JSON_VALUE(held_event, '$.raw.raw_id') FROM {{ds}}.sync_log
            WHERE held_event IS NOT NULL AND shop = @shop
              AND (record_id IN UNNEST(@orders) OR record_id IN UNNEST(@customers)))
          OR EXISTS (SELECT 1 FROM UNNEST(@needles) AS n WHERE STRPOS(LOWER(body), n) > 0))""",  # noqa: S608
    ),
    (
        "order_events",
        f"""UPDATE {{ds}}.order_events
        SET customer = IF(customer IS NULL, NULL, STRUCT(customer.id AS id,
              CAST(NULL AS STRING) AS name, CAST(NULL AS STRING) AS email,
              CAST(NULL AS STRING) AS phone)),
            shipping_address = NULL, note = NULL, entity = NULL
        WHERE {ORDER_ROWS}""",  # noqa: S608
    ),
    (
        "refund_events",
        """UPDATE {ds}.refund_events SET note = NULL, entity = NULL
        WHERE shop = @shop AND order_id IN UNNEST(@orders)""",
    ),
    (
        "customer_events",
        f"""UPDATE {{ds}}.customer_events
        SET name = NULL, email = NULL, phone = NULL, default_address = NULL, entity = NULL
        WHERE {CUSTOMER_ROWS}""",  # noqa: S608
    ),
    (  # Shopify facts held by an inbound switch keep the whole event (orderhub.inbound)
        "sync_log",
        """UPDATE {ds}.sync_log SET held_event = NULL
        WHERE held_event IS NOT NULL AND ((shop = @shop AND (record_id IN UNNEST(@orders)
            OR record_id IN UNNEST(@customers)))
          OR EXISTS (SELECT 1 FROM UNNEST(@needles) AS n
            WHERE STRPOS(LOWER(TO_JSON_STRING(held_event)), n) > 0))""",
    ),
    (  # the record id of a customer from the form or an e-mail is their phone or e-mail
        "sync_log",
        """UPDATE {ds}.sync_log
        SET record_id = IF(EXISTS (SELECT 1 FROM UNNEST(@needles) AS n
              WHERE STRPOS(LOWER(record_id), n) > 0),
              CONCAT('erased:', TO_HEX(SHA256(CONCAT(@key, LOWER(record_id))))), record_id),
            reason = IF(EXISTS (SELECT 1 FROM UNNEST(@needles) AS n
              WHERE STRPOS(LOWER(COALESCE(reason, '')), n) > 0), '[redacted]', reason),
            shopify_name = NULL
        WHERE EXISTS (SELECT 1 FROM UNNEST(@needles) AS n
          WHERE STRPOS(LOWER(record_id), n) > 0 OR STRPOS(LOWER(COALESCE(reason, '')), n) > 0)""",
    ),
    (
        "quarantine",
        """UPDATE {ds}.quarantine SET reason = '[redacted]', ref = NULL, topic = NULL
        WHERE EXISTS (SELECT 1 FROM UNNEST(@needles) AS n
          WHERE STRPOS(LOWER(reason), n) > 0 OR STRPOS(LOWER(COALESCE(ref, '')), n) > 0
            OR STRPOS(LOWER(COALESCE(topic, '')), n) > 0)""",
    ),
    (  # a manager's decision names the contact's phone and e-mail (order_form.identity)
        "contact_identities",
        f"""UPDATE {{ds}}.contact_identities SET phone = NULL, email = NULL
        WHERE LOWER(email) IN UNNEST(@emails) OR phone IN UNNEST(@phones)
          OR REGEXP_REPLACE(COALESCE(phone, ''), '[^0-9]', '') IN UNNEST(@digits)
          OR {CONTACT_ROWS}""",  # noqa: S608
    ),
    (  # a manager's comment on a customer names them by phone or e-mail (customer_notes)
        "customer_comments",
        """UPDATE {ds}.customer_comments SET text = NULL, customer_key = 'erased'
        WHERE SUBSTR(customer_key, 2) IN UNNEST(@digits)
          OR LOWER(SUBSTR(customer_key, 3)) IN UNNEST(@emails)""",
    ),
    (  # last: the raw_events statement finds the contacts' payloads through these rows
        "contact_events",
        f"""UPDATE {{ds}}.contact_events
        SET name = NULL, first_name = NULL, last_name = NULL, phone = NULL, email = NULL,
            ig_username = NULL, live_chat_url = NULL, custom_fields = NULL, entity = NULL
        WHERE {CONTACT_ROWS}""",  # noqa: S608
    ),
)

#: The final search of one table: a row holding a needle, or an e-mail- or phone-shaped
#: token whose keyed digest is one of the request's.
LEFT_SQL = r"""
SELECT COUNT(*) AS n FROM {ds}.{table} AS t
WHERE EXISTS (SELECT 1 FROM UNNEST(@needles) AS n
  WHERE STRPOS(LOWER(TO_JSON_STRING(t)), n) > 0)
  OR EXISTS (SELECT 1 FROM UNNEST(ARRAY_CONCAT(
      REGEXP_EXTRACT_ALL(LOWER(TO_JSON_STRING(t)), r'[a-z0-9._%+-]+@[a-z0-9.-]+[a-z]'),
      REGEXP_EXTRACT_ALL(TO_JSON_STRING(t), r'\+[0-9]{7,15}'))) AS token
    WHERE TO_HEX(SHA256(CONCAT(@key, token))) IN UNNEST(@digests))
"""

DIGESTS_SQL = """
SELECT DISTINCT d FROM {ds}.privacy_erasures AS a, UNNEST(a.digests) AS d
WHERE a.request_id = @request_id
"""


def _change(outcome: Outcome, table: str, run: Callable[[], int]) -> None:
    try:
        outcome.erased[table] = outcome.erased.get(table, 0) + run()
    except StillStreaming:
        outcome.not_erased[table] = "rows still in the streaming buffer; retried next run"
    except Refused as exc:
        outcome.not_erased[table] = f"refused by BigQuery: {exc}"[:300]


def erase_customer(
    request: Request, *, warehouse: Warehouse, documents: Documents, key: str = ""
) -> Outcome:
    subject = find_subject(request, warehouse, key=key)
    outcome = Outcome(request, sorted(subject.order_ids))
    params = subject.params()
    present = set(warehouse.tables())
    earlier: list[str] = []
    if AUDIT_TABLE in present:
        rows = warehouse.rows(DIGESTS_SQL, request_id=request.request_id)
        earlier = [str(r["d"]) for r in rows if r.get("d")]
    outcome.digests = sorted({*earlier, *(digest(key, n) for n in subject.needles)})
    for table, sql in CUSTOMER_STATEMENTS:
        if table in present:
            _change(outcome, table, functools.partial(warehouse.change, sql, **params))
    if subject.needles:
        outcome.erased["firestore"] = documents.null_fields_holding(subject.needles)
        left_in_documents = documents.holding(subject.needles)
        if left_in_documents:
            outcome.not_erased["firestore"] = f"{left_in_documents} document(s) still hold it"
    # The final search, on every run (the first one may have nulled the rows the needles
    # came from): every table, including ones added after this job was written, for the
    # needles and for the digests kept by earlier runs.
    for table in sorted(present - {AUDIT_TABLE}):
        if table in outcome.not_erased or not (subject.needles or outcome.digests):
            continue
        try:
            left = warehouse.rows(
                LEFT_SQL.replace("{table}", table),
                needles=subject.needles,
                digests=outcome.digests,
                key=key,
            )
        except Refused as exc:
            outcome.not_erased[table] = f"could not be checked: {exc}"[:300]
            continue
        if left and left[0]["n"]:
            outcome.not_erased[table] = f"{left[0]['n']} row(s) still hold the customer's data"
    return outcome


def erase_shop(request: Request, *, warehouse: Warehouse) -> Outcome:
    """Every row of the shop, in every table but the requests and the audit."""
    outcome = Outcome(request, [])
    for table in sorted(set(warehouse.tables()) - KEPT_ON_SHOP_REDACT):
        sql = "DELETE FROM {ds}." + table + " WHERE shop = @shop"  # noqa: S608 (our tables)
        _change(outcome, table, functools.partial(warehouse.change, sql, shop=request.shop))
    return outcome


def audit_row(outcome: Outcome, *, status: str | None = None, now: datetime) -> dict[str, Any]:
    """The audit row: ids, counts and table names only."""
    request = outcome.request
    return {
        "erasure_id": f"{request.request_id}@{now.isoformat()}",
        "request_id": request.request_id,
        "request": request.request,
        "shop": request.shop,
        "customer_id": request.customer_id,
        "order_ids": outcome.order_ids,
        "status": status or outcome.status,
        "erased": [{"store": t, "affected": n} for t, n in sorted(outcome.erased.items())],
        "not_erased": [{"store": t, "reason": r} for t, r in sorted(outcome.not_erased.items())],
        "requested_at": request.requested_at.isoformat() if request.requested_at else None,
        "ran_at": now.isoformat(),
        "digests": outcome.digests,
    }


def run(
    *, warehouse: Warehouse, documents: Documents, now: Callable[[], datetime], key: str = ""
) -> list[Outcome]:
    """Carry out every open redaction; one audit row per request and run."""
    outcomes = []
    for request in open_requests(warehouse):
        if request.request == SHOP_REDACT:
            outcome = erase_shop(request, warehouse=warehouse)
        else:
            outcome = erase_customer(request, warehouse=warehouse, documents=documents, key=key)
        row = audit_row(outcome, now=now())
        warehouse.append(AUDIT_TABLE, row, row["erasure_id"])
        outcomes.append(outcome)
    return outcomes


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """What the job answers and logs: request ids, tables, counts; never a needle."""
    return {
        "done": [o.request.request_id for o in outcomes if o.status == "done"],
        "pending": [
            {"request_id": o.request.request_id, "not_erased": o.not_erased}
            for o in outcomes
            if o.status != "done"
        ],
    }
