"""Demo data for the local stack: real Shopify payloads sent as signed webhooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devstack import dataset
from devstack.shopify_sender import fixture, send
from orderhub.money import format_money

EMAILS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "email"
#: Delivery-service order e-mails (one broken: it lands in quarantine and alerts the managers).
DEMO_EMAILS = (
    "smakuy_one_item.eml",
    "smakuy_two_items_fee_discount.eml",
    "kiire_two_items_fee_discount.eml",
    "kiire_plain_text.eml",
    "smakuy_broken.eml",
)


def demo_webhooks() -> list[tuple[str, dict[str, Any]]]:
    order = fixture("order")
    paid = {**order, "financial_status": "paid", "updated_at": "2008-01-10T12:00:00-05:00"}
    second = {
        **order,
        "id": 450789470,
        "name": "#1002",
        "order_number": 1002,
        "total_price": "199.00",
        "created_at": "2008-01-11T09:30:00-05:00",
        "updated_at": "2008-01-11T09:30:00-05:00",
    }
    cancelled = {
        **second,
        "cancelled_at": "2008-01-11T10:00:00-05:00",
        "cancel_reason": "customer",
        "updated_at": "2008-01-11T10:00:00-05:00",
    }
    return [
        ("products/create", fixture("product")),
        ("customers/create", fixture("customer")),
        ("orders/create", order),
        ("orders/paid", paid),
        ("orders/create", second),
        ("orders/cancelled", cancelled),
        ("refunds/create", fixture("refund")),
    ]


def replay(values: dict[str, str]) -> None:
    url = values["SHOPIFY_WEBHOOK_URL"]
    for topic, payload in demo_webhooks():
        response = send(
            url,
            shop=values["SHOPIFY_SHOP_DOMAIN"],
            secret=values["SHOPIFY_API_SECRET"],
            topic=topic,
            payload=payload,
        )
        print(f"demo: {topic:20} → {response.status_code} {response.text.strip()}")
    from devstack.mail import deliver_and_notify

    for sample in DEMO_EMAILS:
        delivered = deliver_and_notify(values, (EMAILS / sample).read_bytes())
        print(f"demo: mail {sample:36} → Gmail stand-in message {delivered['id']}")
    dataset.wait_for_rows(
        values,
        "orders",
        timeout=20.0,
        expected=2 + sum(1 for s in DEMO_EMAILS if "broken" not in s),
    )
    from devstack import chatdemo

    chatdemo.run(values)


def show(values: dict[str, str]) -> None:
    project, endpoint = values["GOOGLE_CLOUD_PROJECT"], values["BIGQUERY_EMULATOR_HOST"]
    client = dataset.bigquery_client(project, endpoint)
    table = f"{project}.{values['BIGQUERY_DATASET']}"
    # The dataset name is ours, not user input.
    columns = "order_id, source, name, status, total, currency"
    query = f"SELECT {columns} FROM `{table}.orders` ORDER BY order_id"  # noqa: S608
    print("\norders view:")
    for row in client.query(query).result():
        print(
            f"  {row.order_id:12} {row.source:14} {row.name or '':16} {row.status:20}"
            f" {format_money(row.total, row.currency):>14}"
        )
    quarantined = list(client.query(f"SELECT reason FROM `{table}.quarantine`").result())  # noqa: S608
    print(f"\nquarantine: {len(quarantined)} item(s)")
    for row in quarantined:
        print(f"  {row.reason}")
    sent = list(
        client.query(
            f"SELECT status, COUNT(*) AS n FROM `{table}.notifications` GROUP BY status"  # noqa: S608
        ).result()
    )
    print(
        "notifications to managers so far: "
        + (", ".join(f"{r.n} {r.status}" for r in sent) or "none yet")
    )
    from devstack import chatdemo

    chatdemo.show(values)
    print(f"\nQuery it yourself: BigQuery emulator {endpoint}, dataset {table}.")
    print(f"Post webhooks to {values['SHOPIFY_WEBHOOK_URL']} (secret in .dev/endpoints.env).")
    print(
        f"Order form: {values['ORDER_FORM_URL']}/ — sign in as"
        f" {values['ORDER_FORM_DEMO_MANAGER']!r}, password ORDER_FORM_DEMO_PASSWORD in"
        " .dev/endpoints.env."
    )
