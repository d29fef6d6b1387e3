"""Reads for the CRM app: parameterised and bounded BigQuery queries.

Every value a manager types travels as a query parameter; the only text put into the SQL
is the dataset's name, which comes from settings. Every query names a partition filter
(``occurred_at``/``attempted_at``/``received_at`` no older than ``history_days``) and a
``LIMIT``, so a click never scans all of history: the orders list reads the newest
versions of orders from the table directly, not the ``orders`` view.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from orderhub import phones
from orderhub.errors import TransientError
from orderhub.order_form import actions as acts

#: (name, BigQuery type, value) of one query parameter.
Param = tuple[str, str, Any]
Rows = list[dict[str, Any]]
Runner = Callable[[str, Sequence[Param]], Rows]

#: Every CRM table the app queries (infra grants the app read on exactly these).
TABLES_READ = (
    "order_events",
    "order_actions",
    "contact_identities",
    "customer_comments",
    "refund_events",
    "customer_events",
    "contact_events",
    "notifications",
    "quarantine",
    "sync_log",
    "raw_events",
    "product_events",
)
#: The products pages (``product_edit``, issue 24) read every version of the products.
PRODUCT_VERSIONS = "`{t}.product_events`"
PAGE_SIZE = 25
SOURCES = ("shopify", "manual", "email", "chatbot")
STATUSES = (
    "open",
    "pending",
    "authorized",
    "paid",
    "partially_refunded",
    "refunded",
    "cancelled",
)
#: Saved views, the list's first chips: (label, what they hold). ``mine``: orders assigned
#: to the signed-in manager (``actions.assigned``).
VIEWS = {
    "unpaid": "Unpaid",
    "ship": "Ship today",
    "call": "Needs a call",
    "mine": "My orders",
}


class BigQueryRunner:
    """Runs a query with ``{t}`` standing for the dataset; rows as dicts."""

    def __init__(self, client: Any, dataset: str, timeout_s: float = 20.0) -> None:
        self._client = client
        self._prefix = f"`{client.project}.{dataset}"
        self._timeout = timeout_s
        #: Query jobs started by this instance (the change marker's test and the logs).
        self.jobs = 0
        self._lock = threading.Lock()

    def __call__(self, sql: str, params: Sequence[Param]) -> Rows:
        from google.api_core import exceptions
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ArrayQueryParameter(n, t[6:-1], v)
                if t.startswith("ARRAY<")
                else bigquery.ScalarQueryParameter(n, t, v)
                for n, t, v in params
            ]
        )
        text = sql.replace("`{t}", self._prefix)
        with self._lock:
            self.jobs += 1
        try:
            job = self._client.query(text, job_config=config, timeout=self._timeout)
            return [dict(row.items()) for row in job.result(timeout=self._timeout)]
        except (exceptions.GoogleAPICallError, exceptions.RetryError, TimeoutError) as exc:
            raise TransientError(f"BigQuery read failed: {exc.__class__.__name__}") from exc


# ------------------------------------------------------------------ search terms
def phone_digits(text: str, default_country: str) -> str | None:
    """The E.164 digits of a phone typed in any format (``(201) 555-0123``,
    ``+1 201 555 0123``, ``00 1 201...``), or ``None`` if it does not read as one."""
    term = phones.search_term(text, default_country)
    return term.digits or None if term else None


@dataclass(frozen=True)
class OrderFilter:
    source: str = ""
    status: str = ""
    manager: str = ""
    q: str = ""
    page: int = 1
    #: The pipeline step (``actions.STATUSES``), the list's status chips.
    pipeline: str = ""
    #: A saved view (``VIEWS``): unpaid, ship (today), call (needs a call), mine.
    view: str = ""

    @classmethod
    def from_args(cls, args: Any) -> OrderFilter:
        try:
            page = max(1, min(int(args.get("page") or 1), 400))
        except ValueError:
            page = 1
        source = str(args.get("source") or "")
        status = str(args.get("status") or "")
        pipeline = str(args.get("pipeline") or "")
        view = str(args.get("view") or "")
        return cls(
            pipeline=pipeline if pipeline in acts.STATUSES else "",
            view=view if view in VIEWS else "",
            source=source if source in SOURCES else "",
            status=status if status in STATUSES else "",
            manager=str(args.get("manager") or "")[:64],
            q=str(args.get("q") or "").strip()[:100],
            page=page,
        )

    def args(self, **override: Any) -> dict[str, Any]:
        """The filter as query arguments (page 1 and empty filters left out)."""
        found: dict[str, Any] = {"view": self.view, "pipeline": self.pipeline}
        found |= {"source": self.source}
        found |= {"status": self.status}
        found |= {"manager": self.manager, "q": self.q, "page": self.page} | override
        return {k: v for k, v in found.items() if v and not (k == "page" and v == 1)}


# The newest version of each order changed within the window (the list's partition filter).
ORDERS_SQL = """
WITH latest AS (
  SELECT order_id, source, shop, name, number, created_at, occurred_at, version,
         financial_status, fulfillment_status, cancelled_at, currency, total,
         customer, manager, deleted, attribution
  FROM `{t}.order_events`
  WHERE occurred_at >= @since
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY source, shop, order_id
    ORDER BY version DESC, IF(event_type = 'order.cancelled', 0, 1), event_id
  ) = 1
),
refunds AS (
  SELECT shop, order_id, SUM(amount) AS refunded
  FROM (
    SELECT shop, order_id, amount
    FROM `{t}.refund_events`
    WHERE occurred_at >= @since
    QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, refund_id ORDER BY version DESC) = 1
  )
  GROUP BY shop, order_id
),
status_acts AS (
  SELECT shop, order_source, order_id, status AS pipeline
  FROM `{t}.order_actions`
  WHERE occurred_at >= @since AND kind = 'status'
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shop, order_source, order_id ORDER BY occurred_at DESC, event_id DESC
  ) = 1
),
paid_acts AS (
  SELECT DISTINCT shop, order_source, order_id
  FROM `{t}.order_actions`
  WHERE occurred_at >= @since AND kind = 'paid'
),
assign_acts AS (
  SELECT shop, order_source, order_id, assignee, assignee_name
  FROM `{t}.order_actions`
  WHERE occurred_at >= @since AND kind = 'assign'
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shop, order_source, order_id ORDER BY occurred_at DESC, event_id DESC
  ) = 1
),
listed AS (
  SELECT latest.*,
         CASE WHEN cancelled_at IS NOT NULL THEN 'cancelled'
              WHEN refunds.refunded >= latest.total AND latest.total > 0 THEN 'refunded'
              WHEN refunds.refunded > 0 THEN 'partially_refunded'
              WHEN paid_acts.order_id IS NOT NULL
                   AND COALESCE(financial_status, 'open') IN ('open', 'pending', 'authorized')
                THEN 'paid'
              ELSE COALESCE(financial_status, 'open') END AS status,
         CASE WHEN cancelled_at IS NOT NULL THEN 'cancelled'
              WHEN status_acts.pipeline IS NOT NULL THEN status_acts.pipeline
              WHEN fulfillment_status IN ('fulfilled', 'shipped', 'partial', 'partially_fulfilled')
                THEN 'shipped'
              ELSE 'new' END AS pipeline,
         assign_acts.assignee AS assigned_to, assign_acts.assignee_name AS assigned_to_name,
         DATE(COALESCE(latest.created_at, latest.occurred_at), @tz) AS day
  FROM latest
  LEFT JOIN refunds ON refunds.shop = latest.shop AND refunds.order_id = latest.order_id
  LEFT JOIN status_acts
    ON status_acts.shop = latest.shop AND status_acts.order_source = latest.source
   AND status_acts.order_id = latest.order_id
  LEFT JOIN paid_acts
    ON paid_acts.shop = latest.shop AND paid_acts.order_source = latest.source
   AND paid_acts.order_id = latest.order_id
  LEFT JOIN assign_acts
    ON assign_acts.shop = latest.shop AND assign_acts.order_source = latest.source
   AND assign_acts.order_id = latest.order_id
  WHERE COALESCE(deleted, FALSE) = FALSE
)
SELECT order_id, source, shop, name, number, created_at, occurred_at AS updated_at, status,
       pipeline, fulfillment_status, currency, CAST(total AS STRING) AS total,
       customer.name AS customer_name, customer.phone AS phone, manager,
       attribution.contact_id AS chat_contact, assigned_to, assigned_to_name, day,
       -- the day's count and revenue (in the shop's time zone; not cancelled or refunded)
       -- over every order the filter holds, not only this page's
       COUNT(*) OVER (PARTITION BY day) AS day_count,
       CAST(SUM(IF(status IN ('cancelled', 'refunded'), 0, total))
            OVER (PARTITION BY day, currency) AS STRING) AS day_revenue
FROM listed
WHERE (@source = '' OR source = @source OR STARTS_WITH(source, CONCAT(@source, ':'))
       -- the chat-bot's orders come through Shopify or the form, naming the chat contact
       OR (@source = 'chatbot' AND attribution.contact_id IS NOT NULL))
  AND (@status = '' OR status = @status)
  AND (@manager = '' OR manager = @manager)
  AND (@pipeline = '' OR pipeline = @pipeline)
  AND (
    @view = ''
    OR (@view = 'unpaid' AND pipeline != 'cancelled'
        AND status IN ('open', 'pending', 'authorized'))
    OR (@view = 'ship' AND pipeline IN ('confirmed', 'packed'))
    OR (@view = 'call' AND pipeline = 'new' AND COALESCE(customer.phone, '') != '')
    OR (@view = 'mine' AND assigned_to = @me)
  )
  AND (
    @q = ''
    OR LOWER(COALESCE(name, '')) = @q OR LOWER(COALESCE(number, '')) = @q
    OR LOWER(order_id) = @q OR LOWER(COALESCE(name, '')) = CONCAT('#', @q)
    OR (@digits != '' AND REGEXP_REPLACE(COALESCE(customer.phone, ''), '[^0-9]', '') = @digits)
    OR (@suffix != ''
        AND ENDS_WITH(REGEXP_REPLACE(COALESCE(customer.phone, ''), '[^0-9]', ''), @suffix))
    OR (@digits = '' AND STRPOS(LOWER(COALESCE(customer.name, '')), @q) > 0)
    OR (STRPOS(@q, '@') > 0 AND LOWER(COALESCE(customer.email, '')) = @q)
  )
ORDER BY COALESCE(created_at, occurred_at) DESC, order_id DESC
LIMIT @limit OFFSET @offset
"""


@dataclass(frozen=True)
class Window:
    """How far back the app reads (the partition filter), from a clock."""

    now: datetime
    history_days: int = 400

    @property
    def since(self) -> datetime:
        return self.now - timedelta(days=self.history_days)


def list_orders(
    run: Runner,
    flt: OrderFilter,
    window: Window,
    *,
    default_country: str,
    me: str = "",
    time_zone: str = "UTC",
) -> tuple[Rows, bool]:
    """One page of orders, newest first, and whether there is a next page. Each row has
    its ``day`` in ``time_zone`` and that day's ``day_count`` and ``day_revenue``;
    ``me`` is the signed-in manager (the ``mine`` view)."""
    q = flt.q.lower()
    term = phones.search_term(flt.q, default_country) if flt.q else None
    if term and q.lstrip("#").isdigit() and len(q.lstrip("#")) < 7:
        term = None  # a short number is an order number, not a phone
    term = term or phones.SearchTerm()
    rows = run(
        ORDERS_SQL,
        [
            ("since", "TIMESTAMP", window.since),
            ("source", "STRING", flt.source),
            ("status", "STRING", flt.status),
            ("manager", "STRING", flt.manager),
            ("pipeline", "STRING", flt.pipeline),
            ("view", "STRING", flt.view),
            ("me", "STRING", me),
            ("tz", "STRING", time_zone),
            ("q", "STRING", q),
            ("digits", "STRING", term.digits),
            ("suffix", "STRING", term.suffix),
            ("limit", "INT64", PAGE_SIZE + 1),
            ("offset", "INT64", (flt.page - 1) * PAGE_SIZE),
        ],
    )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


# ------------------------------------------------------------------ one order
ORDER_VERSIONS_SQL = """
SELECT event_id, event_type, source, shop, occurred_at, ingested_at, version, raw_id, order_id,
       name, number, created_at, financial_status, fulfillment_status, cancelled_at,
       cancel_reason, currency, CAST(subtotal AS STRING) AS subtotal, CAST(tax AS STRING) AS tax,
       CAST(discounts AS STRING) AS discounts, CAST(shipping AS STRING) AS shipping,
       CAST(total AS STRING) AS total, customer, shipping_address, line_items, note, tags,
       attribution, external_ref, manager, shopify_order_id, shopify_order_name,
       shopify_admin_url, deleted
FROM `{t}.order_events`
WHERE occurred_at >= @since AND order_id = @order_id
ORDER BY version, occurred_at, event_id
LIMIT 200
"""

REFUNDS_SQL = """
SELECT refund_id, source, occurred_at, CAST(amount AS STRING) AS amount, note
FROM `{t}.refund_events`
WHERE occurred_at >= @since AND order_id = @order_id
QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, refund_id ORDER BY version DESC) = 1
ORDER BY occurred_at
LIMIT 50
"""

NOTIFICATIONS_SQL = """
SELECT event_type, manager_name, manager_id, status, attempt, http_status, manychat_code,
       error, attempted_at
FROM `{t}.notifications`
WHERE attempted_at >= @since AND order_id = @order_id
ORDER BY attempted_at
LIMIT 100
"""

SYNC_SQL = """
SELECT direction, entity, status, shopify_id, shopify_name, reason, error_code,
       attempted_at AS updated_at
FROM `{t}.sync_log`
WHERE attempted_at >= @since AND record_id = @order_id
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY shop, direction, entity, source, record_id ORDER BY attempted_at DESC, log_id DESC
) = 1
LIMIT 10
"""


ACTIONS_SQL = """
SELECT event_id, occurred_at, action_id, order_source, kind, status, tracking_number,
       tracking_company, cancel_reason, text, manager, manager_name, assignee, assignee_name,
       shipping_address, note, line_items, CAST(subtotal AS STRING) AS subtotal,
       CAST(total AS STRING) AS total
FROM `{t}.order_actions`
WHERE occurred_at >= @since AND order_id = @order_id
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at) = 1
ORDER BY occurred_at, event_id
LIMIT 500
"""

ORDER_CONTACT_SQL = """
SELECT contact_id, name, first_name, last_name, live_chat_url, channel, occurred_at
FROM `{t}.contact_events`
WHERE occurred_at >= @since
  AND (
    (@contact_id != '' AND contact_id = @contact_id)
    OR (@contact_id = '' AND @digits != '' AND phone_valid
        AND REGEXP_REPLACE(phone, '[^0-9]', '') = @digits)
  )
ORDER BY occurred_at DESC
LIMIT 1
"""


def order_contact(run: Runner, order: dict[str, Any], window: Window) -> dict[str, Any] | None:
    """The order's chat contact (the one it names, else one with its phone), newest data."""
    contact_id = str((order.get("attribution") or {}).get("contact_id") or "")
    digits = re.sub(r"\D", "", str((order.get("customer") or {}).get("phone") or ""))
    if not contact_id and not digits:
        return None
    rows = run(
        ORDER_CONTACT_SQL,
        [
            ("since", "TIMESTAMP", window.since),
            ("contact_id", "STRING", contact_id),
            ("digits", "STRING", digits),
        ],
    )
    return rows[0] if rows else None


#: Financial statuses that a manager's "paid" turns into paid (on the page and the view).
UNPAID = ("open", "pending", "authorized")


@dataclass
class OrderPage:
    order: dict[str, Any]
    timeline: list[dict[str, Any]]
    refunds: Rows
    notifications: Rows
    sync: Rows
    status: str
    refunded: Decimal = Decimal(0)
    admin_url: str | None = None
    #: What managers did (``order_actions``), oldest first, and where that leaves the order.
    actions: Rows = field(default_factory=list)
    pipeline: str = "new"


def _step(previous: dict[str, Any] | None, row: dict[str, Any]) -> list[str]:
    """What a version changed, in the words of the order's life."""
    said: list[str] = []
    if previous is None:
        said.append("created")
    before = previous or {}
    fin = row.get("financial_status")
    if fin and fin != before.get("financial_status"):
        said.append(fin.replace("_", " "))
    ful = row.get("fulfillment_status")
    if ful and ful != before.get("fulfillment_status"):
        said.append(ful.replace("_", " "))
    if row.get("cancelled_at") and not before.get("cancelled_at"):
        said.append("cancelled")
    if row.get("deleted") and not before.get("deleted"):
        said.append("deleted")
    if not said:
        said.append("updated")
    return said


def order_page(
    run: Runner, order_id: str, window: Window, *, parallel: Callable[..., list[Rows]]
) -> OrderPage | None:
    """Everything the order's page shows, or ``None`` if no such order (in the window)."""
    params: list[Param] = [("since", "TIMESTAMP", window.since), ("order_id", "STRING", order_id)]
    versions, refunds, notes, sync, done = parallel(
        (ORDER_VERSIONS_SQL, params),
        (REFUNDS_SQL, params),
        (NOTIFICATIONS_SQL, params),
        (SYNC_SQL, params),
        (ACTIONS_SQL, params),
    )
    if not versions:
        return None
    ranked = sorted(
        versions,
        key=lambda r: (r["version"], r["event_type"] != "order.cancelled", r["event_id"]),
    )
    seen: set[str] = set()
    timeline: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for row in sorted(versions, key=lambda r: (r["version"], r["occurred_at"])):
        if row["event_id"] in seen:
            continue
        seen.add(row["event_id"])
        timeline.append(
            {"at": row["occurred_at"], "source": row["source"], "what": _step(previous, row)}
        )
        previous = row
    for refund in refunds:
        timeline.append(
            {
                "at": refund["occurred_at"],
                "source": refund["source"],
                "what": [f"refunded {refund['amount']}"],
            }
        )
    order = ranked[-1]
    done = [a for a in done if a.get("order_source") in (None, order["source"])]
    for action in done:
        timeline.append(
            {
                "at": action["occurred_at"],
                "source": "CRM",
                "what": acts.describe(action),
                "who": action.get("manager_name") or action.get("manager"),
                "kind": action.get("kind"),
            }
        )
    timeline.sort(key=lambda s: s["at"])
    links = [r for r in versions if r.get("shopify_admin_url") or r.get("shopify_order_id")]
    for linked in links:  # a later CRM-only version does not lose the link
        for key in ("shopify_order_id", "shopify_order_name", "shopify_admin_url"):
            order[key] = order.get(key) or linked.get(key)
    order = acts.edited(order, done)
    refunded = sum((Decimal(r["amount"] or 0) for r in refunds), Decimal(0))
    total = Decimal(order["total"] or 0)
    if order.get("cancelled_at"):
        status = "cancelled"
    elif refunded and refunded >= total > 0:
        status = "refunded"
    elif refunded:
        status = "partially_refunded"
    else:
        status = order.get("financial_status") or "open"
    if status in UNPAID and acts.paid_by_manager(done):
        status = "paid"
    return OrderPage(
        order=order,
        timeline=timeline,
        refunds=refunds,
        notifications=notes,
        sync=sync,
        status=status,
        refunded=refunded,
        actions=done,
        pipeline=acts.pipeline_status(order, done),
    )


def admin_link(order: dict[str, Any]) -> str | None:
    """The order in Shopify's admin: the link the sync recorded, or one for a Shopify order."""
    recorded = str(order.get("shopify_admin_url") or "")
    if recorded.startswith("https://"):  # never a javascript: or data: link from data
        return recorded
    if order.get("source") == "shopify" and str(order.get("order_id") or "").isdigit():
        store = str(order.get("shop") or "").removesuffix(".myshopify.com")
        return f"https://admin.shopify.com/store/{store}/orders/{order['order_id']}"
    return None


RAW_SQL = """
SELECT raw_id, kind, source, shop, received_at, meta, body
FROM `{t}.raw_events`
WHERE received_at >= @since AND raw_id = @raw_id
LIMIT 1
"""


def raw_event(run: Runner, raw_id: str, window: Window) -> dict[str, Any] | None:
    rows = run(RAW_SQL, [("since", "TIMESTAMP", window.since), ("raw_id", "STRING", raw_id)])
    return rows[0] if rows else None


def mail_text(raw: dict[str, Any]) -> dict[str, str]:
    """A stored e-mail as plain text (headers and body) for showing: the markup is read,
    never rendered, and the page escapes whatever is left."""
    import base64

    from orderhub import mime
    from orderhub.sources import email

    meta = raw.get("meta") or {}
    if isinstance(meta, str):
        import json

        meta = json.loads(meta or "{}")
    body = str(raw.get("body") or "")
    data = base64.b64decode(body) if meta.get("encoding") == "base64" else body.encode()
    mail = mime.parse(data)
    try:
        text = email.document_text(mail)
    except Exception as exc:  # noqa: BLE001 - an unreadable mail still shows its headers
        text = f"(the body could not be read: {exc})"
    return {
        "from": mail.sender,
        "subject": mail.subject,
        "date": mail.date.isoformat() if mail.date else "",
        "text": text or mail.unreadable or "(empty)",
    }


# ------------------------------------------------------------------ customers
CUSTOMER_ORDERS_SQL = """
WITH latest AS (
  SELECT order_id, source, shop, name, created_at, occurred_at, financial_status, cancelled_at,
         currency, total, customer, deleted
  FROM `{t}.order_events`
  WHERE occurred_at >= @since
    AND (
      (@digits != '' AND REGEXP_REPLACE(COALESCE(customer.phone, ''), '[^0-9]', '') = @digits)
      OR (@suffix != ''
          AND ENDS_WITH(REGEXP_REPLACE(COALESCE(customer.phone, ''), '[^0-9]', ''), @suffix))
      OR (@email != '' AND LOWER(customer.email) = @email)
      OR (@name != '' AND STRPOS(LOWER(COALESCE(customer.name, '')), @name) > 0)
      OR (@customer_id != '' AND customer.id = @customer_id)
    )
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY source, shop, order_id
    ORDER BY version DESC, IF(event_type = 'order.cancelled', 0, 1), event_id
  ) = 1
),
refunds AS (
  SELECT shop, order_id, SUM(amount) AS refunded
  FROM (
    SELECT shop, order_id, amount
    FROM `{t}.refund_events`
    WHERE occurred_at >= @since AND order_id IN (SELECT order_id FROM latest)
    QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, refund_id ORDER BY version DESC) = 1
  )
  GROUP BY shop, order_id
),
paid_acts AS (
  SELECT DISTINCT shop, order_source, order_id
  FROM `{t}.order_actions`
  WHERE occurred_at >= @since AND kind = 'paid' AND order_id IN (SELECT order_id FROM latest)
)
SELECT latest.order_id, source, latest.shop, name, created_at, currency,
       CAST(total AS STRING) AS total, CAST(COALESCE(refunds.refunded, 0) AS STRING) AS refunded,
       CASE WHEN cancelled_at IS NOT NULL THEN 'cancelled'
            WHEN refunds.refunded >= total AND total > 0 THEN 'refunded'
            WHEN refunds.refunded > 0 THEN 'partially_refunded'
            WHEN paid_acts.order_id IS NOT NULL
                 AND COALESCE(financial_status, 'open') IN ('open', 'pending', 'authorized')
              THEN 'paid'
            ELSE COALESCE(financial_status, 'open') END AS status,
       customer.id AS customer_id, customer.name AS customer_name,
       customer.phone AS phone, LOWER(customer.email) AS email
FROM latest
LEFT JOIN refunds ON refunds.shop = latest.shop AND refunds.order_id = latest.order_id
LEFT JOIN paid_acts
  ON paid_acts.shop = latest.shop AND paid_acts.order_source = latest.source
 AND paid_acts.order_id = latest.order_id
WHERE COALESCE(deleted, FALSE) = FALSE
ORDER BY COALESCE(created_at, occurred_at) DESC
LIMIT @limit
"""

#: Each hit's orders counted as its customer page counts them: by the phone's digits for a
#: hit with a phone, else by the e-mail (a search by name or by the last digits matched
#: only some of a customer's orders).
CUSTOMER_COUNTS_SQL = """
WITH latest AS (
  SELECT REGEXP_REPLACE(COALESCE(customer.phone, ''), '[^0-9]', '') AS digits,
         LOWER(customer.email) AS email, COALESCE(created_at, occurred_at) AS placed, deleted
  FROM `{t}.order_events`
  WHERE occurred_at >= @since
    AND (REGEXP_REPLACE(COALESCE(customer.phone, ''), '[^0-9]', '') IN UNNEST(@digits)
         OR LOWER(customer.email) IN UNNEST(@emails))
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY source, shop, order_id
    ORDER BY version DESC, IF(event_type = 'order.cancelled', 0, 1), event_id
  ) = 1
)
SELECT digits, email, COUNT(*) AS orders, MAX(placed) AS last_order_at
FROM latest
WHERE COALESCE(deleted, FALSE) = FALSE
GROUP BY digits, email
LIMIT 2000
"""

CUSTOMER_RECORDS_SQL = """
SELECT customer_id, source, shop, name, email, phone, tags, default_address,
       email_marketing_consent, sms_marketing_consent, occurred_at AS updated_at, deleted,
       JSON_VALUE(entity, '$.note') AS note
FROM `{t}.customer_events`
WHERE occurred_at >= @since
  AND (
    (@digits != '' AND REGEXP_REPLACE(COALESCE(phone, ''), '[^0-9]', '') = @digits)
    OR (@suffix != '' AND ENDS_WITH(REGEXP_REPLACE(COALESCE(phone, ''), '[^0-9]', ''), @suffix))
    OR (@email != '' AND LOWER(email) = @email)
    OR (@name != '' AND STRPOS(LOWER(COALESCE(name, '')), @name) > 0)
    OR (@customer_id != '' AND customer_id = @customer_id)
  )
QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, customer_id ORDER BY version DESC, event_id) = 1
ORDER BY occurred_at DESC
LIMIT @limit
"""

CONTACTS_SQL = """
WITH decided AS (  -- each contact's newest decision by a manager (orderhub.order_form.identity)
  SELECT shop, contact_id, decision, manager_name AS decided_by, occurred_at AS decided_at,
    REGEXP_REPLACE(COALESCE(phone, ''), '[^0-9]', '') AS digits, LOWER(email) AS email
  FROM `{t}.contact_identities`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (  -- the later of two decisions from one second's pages wins
    PARTITION BY shop, contact_id ORDER BY version DESC, occurred_at DESC, event_id DESC
  ) = 1
),
found AS (
  SELECT c.contact_id, c.shop, c.name, c.phone, c.email, c.touch_source, c.campaign, c.ad,
    c.occurred_at, c.live_chat_url, c.channel,
    -- a phone or e-mail typed in chat proves nothing (issue 21): unconfirmed, unless ManyChat
    -- verified it or a manager confirmed it for this phone or e-mail
    (@digits != '' AND IFNULL(c.phone_verified, FALSE)
       AND REGEXP_REPLACE(c.phone, '[^0-9]', '') = @digits)
    OR (@email != '' AND IFNULL(c.email_verified, FALSE) AND LOWER(c.email) = @email)
      AS verified,
    IF((@digits != '' AND d.digits = @digits) OR (@email != '' AND d.email = @email),
      d.decision, NULL) AS decision,
    d.decided_by, d.decided_at
  FROM `{t}.contact_events` AS c
  LEFT JOIN decided AS d ON d.shop = c.shop AND d.contact_id = c.contact_id
  WHERE c.occurred_at >= @since
    AND (
      (@digits != '' AND c.phone_valid AND REGEXP_REPLACE(c.phone, '[^0-9]', '') = @digits)
      OR (@email != '' AND LOWER(c.email) = @email)
    )
)
SELECT *, verified OR IFNULL(decision = 'confirmed', FALSE) AS confirmed
FROM found
ORDER BY occurred_at
LIMIT 50
"""


@dataclass(frozen=True)
class Who:
    """What identifies a customer across sources: phone digits, e-mail, or a record id.
    A search may also look for phones that end in ``suffix`` (see ``orderhub.phones``)."""

    digits: str = ""
    email: str = ""
    name: str = ""
    customer_id: str = ""
    suffix: str = ""

    def key(self) -> str:
        """The customer's id in the app's URLs: ``p<digits>``, ``e:<email>`` or ``c:<id>``."""
        if self.digits:
            return "p" + self.digits
        if self.email:
            return "e:" + self.email
        return "c:" + self.customer_id

    @classmethod
    def from_key(cls, key: str) -> Who | None:
        if key.startswith("p") and key[1:].isdigit() and 6 <= len(key) <= 16:
            return cls(digits=key[1:])
        if key.startswith("e:") and "@" in key and len(key) <= 256:
            return cls(email=key[2:].lower())
        if key.startswith("c:") and 0 < len(key) <= 130:
            return cls(customer_id=key[2:])
        return None

    def params(self, window: Window, limit: int) -> list[Param]:
        return [
            ("since", "TIMESTAMP", window.since),
            ("digits", "STRING", self.digits),
            ("suffix", "STRING", self.suffix),
            ("email", "STRING", self.email),
            ("name", "STRING", self.name),
            ("customer_id", "STRING", self.customer_id),
            ("limit", "INT64", limit),
        ]


def who_from_search(q: str, default_country: str) -> Who | None:
    q = q.strip()[:100]
    if not q:
        return None
    if "@" in q:
        return Who(email=q.lower())
    term = phones.search_term(q, default_country, min_suffix=phones.MIN_LAST_DIGITS)
    if term:
        return Who(digits=term.digits, suffix=term.suffix)
    if len(q) < 2:
        return None
    return Who(name=q.lower())


def _who_of(row: dict[str, Any]) -> Who:
    digits = re.sub(r"\D", "", str(row.get("phone") or ""))
    email = str(row.get("email") or "").lower()
    if digits:
        return Who(digits=digits)
    if email:
        return Who(email=email)
    return Who(customer_id=str(row.get("customer_id") or ""))


@dataclass
class CustomerHit:
    key: str
    name: str
    phone: str
    email: str
    orders: int = 0
    last_order_at: datetime | None = None
    sources: set[str] = field(default_factory=set)


def search_customers(
    run: Runner, q: str, window: Window, *, default_country: str, parallel: Any
) -> list[CustomerHit]:
    """Customers by phone (any format), e-mail or a part of the name: people seen in orders
    from every source and in Shopify's customer records, one hit per phone or e-mail."""
    who = who_from_search(q, default_country)
    if who is None:
        return []
    orders, records = parallel(
        (CUSTOMER_ORDERS_SQL, who.params(window, 500)),
        (CUSTOMER_RECORDS_SQL, who.params(window, 100)),
    )
    hits: dict[str, CustomerHit] = {}
    for row in records:
        if row.get("deleted"):
            continue
        key = _who_of(row).key()
        hit = hits.setdefault(
            key, CustomerHit(key, row.get("name") or "", row.get("phone") or "", "")
        )
        hit.email = hit.email or (row.get("email") or "")
        hit.sources.add(row["source"])
    for row in orders:
        key = _who_of(row).key()
        if key == "c:":
            continue
        hit = hits.setdefault(
            key, CustomerHit(key, row.get("customer_name") or "", row.get("phone") or "", "")
        )
        hit.name = hit.name or row.get("customer_name") or ""
        hit.phone = hit.phone or row.get("phone") or ""
        hit.email = hit.email or row.get("email") or ""
        hit.orders += 1
        at = row.get("created_at")
        if at and (hit.last_order_at is None or at > hit.last_order_at):
            hit.last_order_at = at
        hit.sources.add(str(row["source"]).split(":")[0])
    found = sorted(hits.values(), key=lambda h: (h.last_order_at is None, h.name.lower()))[:50]
    _count_orders(run, found, window)
    return found


def _count_orders(run: Runner, hits: list[CustomerHit], window: Window) -> None:
    """Each hit's order count and last order as its page has them (``CUSTOMER_COUNTS_SQL``)."""
    digits = [h.key[1:] for h in hits if h.key.startswith("p")]
    emails = [h.key[2:] for h in hits if h.key.startswith("e:")]
    if not digits and not emails:
        return
    rows = run(
        CUSTOMER_COUNTS_SQL,
        [
            ("since", "TIMESTAMP", window.since),
            ("digits", "ARRAY<STRING>", digits),
            ("emails", "ARRAY<STRING>", emails),
        ],
    )
    for hit in hits:
        if hit.key.startswith("p"):
            mine = [r for r in rows if r["digits"] == hit.key[1:]]
        elif hit.key.startswith("e:"):
            mine = [r for r in rows if r["email"] == hit.key[2:]]
        else:
            continue
        hit.orders = sum(int(r["orders"]) for r in mine)
        last = [r["last_order_at"] for r in mine if r["last_order_at"]]
        hit.last_order_at = max(last) if last else hit.last_order_at


#: The payment statuses whose money a customer has spent: paid (by the source, or marked
#: paid by a manager), less what was refunded. Pending, authorized (held, not taken) and
#: open orders are not spent yet; cancelled and refunded ones are not at all.
SPENT = ("paid", "partially_refunded")


#: A customer's comments (``customer_notes``), oldest first.
CUSTOMER_COMMENTS_SQL = """
SELECT event_id, occurred_at, text, manager, manager_name
FROM `{t}.customer_comments`
WHERE occurred_at >= @since AND customer_key = @key AND text IS NOT NULL
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at) = 1
ORDER BY occurred_at, event_id
LIMIT 200
"""


@dataclass
class CustomerPage:
    key: str
    name: str
    phone: str
    email: str
    address: dict[str, Any] | None
    orders: Rows
    records: Rows
    contacts: Rows
    totals: dict[str, Decimal]
    consent: dict[str, str]
    tags: list[str] = field(default_factory=list)
    note: str = ""
    consent_records: dict[str, Any] = field(default_factory=dict)


def customer_page(run: Runner, key: str, window: Window, *, parallel: Any) -> CustomerPage | None:
    """Every order of one customer from every source, their chat contact, consent, totals."""
    who = Who.from_key(key)
    if who is None:
        return None
    orders, records = parallel(
        (CUSTOMER_ORDERS_SQL, who.params(window, 500)),
        (CUSTOMER_RECORDS_SQL, who.params(window, 20)),
    )
    records = [r for r in records if not r.get("deleted")]
    # A record found by its id brings its phone and e-mail: the orders that carry those.
    if who.customer_id and records and not who.digits:
        more = _who_of(records[0])
        if more.key() != who.key():
            orders = orders + parallel((CUSTOMER_ORDERS_SQL, more.params(window, 500)))[0]
    seen: set[tuple[str, str]] = set()
    unique: Rows = []
    for row in orders:
        ident = (row["source"], row["order_id"])
        if ident not in seen:
            seen.add(ident)
            unique.append(row)
    if not unique and not records:
        return None
    first = records[0] if records else {}
    name = first.get("name") or next((o["customer_name"] for o in unique if o["customer_name"]), "")
    phone = first.get("phone") or next((o["phone"] for o in unique if o["phone"]), "")
    email = first.get("email") or next((o["email"] for o in unique if o["email"]), "")
    digits = re.sub(r"\D", "", phone or "")
    contacts = parallel(
        (
            CONTACTS_SQL,
            [
                ("since", "TIMESTAMP", window.since),
                ("digits", "STRING", digits),
                ("email", "STRING", (email or "").lower()),
            ],
        )
    )[0]
    totals: dict[str, Decimal] = {}
    for row in unique:
        if row["status"] not in SPENT:
            continue
        currency = row.get("currency") or ""
        spent = Decimal(row["total"] or 0) - Decimal(row.get("refunded") or 0)
        totals[currency] = totals.get(currency, Decimal(0)) + spent
    consent: dict[str, str] = {}
    for kind in ("email_marketing_consent", "sms_marketing_consent"):
        value = first.get(kind) or {}
        if value.get("state"):
            consent[kind.split("_")[0]] = str(value["state"]).lower()
    return CustomerPage(
        key=who.key() if not who.customer_id else _who_of(first).key() or key,
        name=name,
        phone=phone,
        email=email,
        address=first.get("default_address"),
        orders=unique,
        records=records,
        contacts=contacts,
        totals=totals,
        consent=consent,
        tags=[str(t) for t in first.get("tags") or () if not str(t).startswith("orderhub-")],
        note=str(first.get("note") or ""),
        consent_records={
            k.split("_")[0]: first[k]
            for k in ("email_marketing_consent", "sms_marketing_consent")
            if first.get(k)
        },
    )


def lookup_phone(run: Runner, typed: str, window: Window, *, default_country: str) -> Any:
    """The customer the form's phone belongs to (newest data), or ``None``."""
    digits = phone_digits(typed, default_country)
    if not digits:
        return None
    rows = run(CUSTOMER_ORDERS_SQL, Who(digits=digits).params(window, 1))
    if not rows:
        rows = run(CUSTOMER_RECORDS_SQL, Who(digits=digits).params(window, 1))
        if not rows:
            return None
        row = rows[0]
        return {"key": "p" + digits, "name": row.get("name") or "", "email": row.get("email") or ""}
    row = rows[0]
    return {
        "key": "p" + digits,
        "name": row.get("customer_name") or "",
        "email": row.get("email") or "",
        "phone": row.get("phone") or "",
    }


def customer_key(customer: dict[str, Any] | None) -> str | None:
    """The customer page's id for an order's customer (phone, else e-mail, else record)."""
    if not customer:
        return None
    key = _who_of(customer | {"customer_id": customer.get("id")}).key()
    return None if key == "c:" else key


# ------------------------------------------------------------------ needs attention
QUARANTINE_SQL = """
SELECT event_id, source, shop, occurred_at, ingested_at, raw_id, entity_id, reason, kind, topic,
       ref
FROM `{t}.quarantine`
WHERE occurred_at >= @since
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at) = 1
ORDER BY occurred_at DESC
LIMIT @limit
"""

SYNC_FAILURES_SQL = """
SELECT shop, direction, entity, source, record_id, status, reason, error_code,
       attempted_at AS updated_at
FROM `{t}.sync_log`
WHERE attempted_at >= @since
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY shop, direction, entity, source, record_id ORDER BY attempted_at DESC, log_id DESC
) = 1 AND status = 'failed'
ORDER BY updated_at DESC
LIMIT @limit
"""

NOTIFY_FAILURES_SQL = """
SELECT event_id, event_type, order_id, manager_id, manager_name, status, http_status,
       manychat_code, error, attempted_at
FROM `{t}.notifications`
WHERE attempted_at >= @since
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY event_id, manager_id ORDER BY attempted_at DESC, attempt DESC
) = 1 AND status = 'failed'
ORDER BY attempted_at DESC
LIMIT @limit
"""


def what_to_do_notification(row: dict[str, Any]) -> str:
    code = row.get("manychat_code")
    if code == 3011:
        return (
            "The manager has not written to the shop's Messenger page in the last 24 hours, "
            "so Messenger refuses messages: ask them to send the page any message."
        )
    if row.get("http_status") in (401, 403):
        return "ManyChat refused the token: the owner should renew MANYCHAT_TOKEN."
    if row.get("http_status") == 404 or code == 3001:
        return "ManyChat does not know this subscriber: check the manager's subscriber id."
    return "Check the order in the app; the manager was not told about it."


def what_to_do_sync(row: dict[str, Any]) -> str:
    reason = str(row.get("reason") or "").strip()
    fix = "Fix the record (or the shop's settings) and run scripts/resync for it."
    return f"{reason} — {fix}" if reason else fix


#: Messenger lets the bot write to a manager for this long after the manager's last message.
WINDOW_HOURS = 24
#: A window with less than this left is "closing": time to tap the bot's daily check-in.
CLOSING_HOURS = 4

MANAGER_TOUCHES_SQL = """
SELECT contact_id, MAX(occurred_at) AS last_seen
FROM `{t}.contact_events`
WHERE occurred_at >= @since AND contact_id IN UNNEST(@ids)
GROUP BY contact_id
"""


def window_state(last_seen: datetime | None, now: datetime) -> tuple[str, float | None]:
    """A manager's Messenger window from their last message to the bot: ``open``,
    ``closing`` (under ``CLOSING_HOURS`` left), ``closed`` or ``unknown``; hours left."""
    if last_seen is None:
        return "unknown", None
    left = WINDOW_HOURS - (now - last_seen).total_seconds() / 3600
    if left <= 0:
        return "closed", left
    return ("closing" if left < CLOSING_HOURS else "open"), left


def messenger_windows(run: Runner, managers: Sequence[tuple[str, str]], *, now: datetime) -> Rows:
    """Each manager to notify, with their Messenger window (issue 14 item 7).

    A manager's last message to the bot is their newest ``contact.touched``: the bot's
    daily check-in flow posts the contact (``POST /contacts``, docs/chatbot.md), as every
    flow with the External Request does. Only the last two days are read (a window is a
    day long), so the query stays on two partitions.
    """
    if not managers:
        return []
    ids = [subscriber for subscriber, _ in managers]
    rows = run(
        MANAGER_TOUCHES_SQL,
        [
            ("since", "TIMESTAMP", now - timedelta(hours=2 * WINDOW_HOURS)),
            ("ids", "ARRAY<STRING>", ids),
        ],
    )
    seen = {str(r["contact_id"]): r["last_seen"] for r in rows}
    found: Rows = []
    for subscriber, name in managers:
        state, left = window_state(seen.get(subscriber), now)
        found.append(
            {
                "subscriber_id": subscriber,
                "name": name,
                "last_seen": seen.get(subscriber),
                "state": state,
                "hours_left": left,
            }
        )
    order = {"closed": 0, "closing": 1, "unknown": 2, "open": 3}
    return sorted(found, key=lambda r: (order[r["state"]], r["hours_left"] or 0.0))


def attention(run: Runner, window: Window, *, parallel: Any) -> dict[str, Rows]:
    params: list[Param] = [("since", "TIMESTAMP", window.since), ("limit", "INT64", 100)]
    quarantine, sync, notes = parallel(
        (QUARANTINE_SQL, params), (SYNC_FAILURES_SQL, params), (NOTIFY_FAILURES_SQL, params)
    )
    for row in sync:
        row["todo"] = what_to_do_sync(row)
    for row in notes:
        row["todo"] = what_to_do_notification(row)
    return {"quarantine": quarantine, "sync": sync, "notifications": notes}


QUARANTINED_SQL = """
SELECT event_id, source, shop, occurred_at, ingested_at, raw_id, entity_id, reason, kind, topic,
       ref
FROM `{t}.quarantine`
WHERE occurred_at >= @since AND event_id = @event_id
ORDER BY ingested_at
LIMIT 1
"""


def quarantined(run: Runner, event_id: str, window: Window) -> dict[str, Any] | None:
    rows = run(
        QUARANTINED_SQL,
        [("since", "TIMESTAMP", window.since), ("event_id", "STRING", event_id)],
    )
    return rows[0] if rows else None
