"""Privacy erasure end to end on the running stack: Shopify's customers/redact, carried out.

A customer and their order arrive as signed webhooks, the same customer (same phone) orders
through a delivery marketplace whose e-mail comes in through the Gmail path, and one
Firestore document holds the customer's e-mail, as a chat contact would; then Shopify's
``customers/redact`` arrives.
After the scheduled ``privacy_erase`` function runs, the customer's e-mail and phone appear
in no table of the CRM dataset, nor in that document; the order is still counted (its
total kept); an audit row with ids only says the request is done. Then
``scripts/privacy_export`` answers a data request for a second customer with a JSON file.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import requests

from devstack.shopify_sender import fixture, send
from tests.conftest import Crm

ROOT = Path(__file__).resolve().parents[2]
MARKETPLACE_MAIL = ROOT / "tests" / "fixtures" / "email" / "smakuy_one_item.eml"


def _marketplace_mail(order_number: str, national_phone: str) -> bytes:
    """The marketplace's sample order mail, for another order and customer phone."""
    import email
    import email.policy

    message = email.message_from_bytes(MARKETPLACE_MAIL.read_bytes(), policy=email.policy.default)
    subject = str(message["Subject"]).replace("SM-48213", order_number)
    message.replace_header("Subject", subject)
    message.replace_header("Message-ID", f"<{order_number}@mail.smakuy.example>")
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        text = part.get_content().replace("SM-48213", order_number)
        part.set_content(
            text.replace("067 123 45 67", national_phone),
            subtype=part.get_content_subtype(),
            cte="base64",
        )
    return message.as_bytes()


def _customer_and_order(customer_id: int, order_id: int, email: str, phone: str) -> tuple:
    customer = {
        **fixture("customer"),
        "id": customer_id,
        "email": email,
        "phone": phone,
        "updated_at": "2026-11-20T10:00:00Z",
    }
    customer["default_address"] = {**customer.get("default_address", {}), "phone": phone}
    order = fixture("order")
    order = {
        **order,
        "id": order_id,
        "name": f"#E{order_id % 100000}",
        "email": email,
        "phone": phone,
        "note": f"call {email} before noon",
        "updated_at": "2026-11-20T10:05:00Z",
        "customer": {**order["customer"], "id": customer_id, "email": email, "phone": phone},
        "shipping_address": {**order["shipping_address"], "phone": phone},
        "billing_address": {**order.get("billing_address", {}), "phone": phone},
    }
    return customer, order


def _deliver(stack: dict[str, str], topic: str, payload: dict[str, Any]) -> None:
    response = send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=stack["SHOPIFY_SHOP_DOMAIN"],
        secret=stack["SHOPIFY_API_SECRET"],
        topic=topic,
        payload=payload,
    )
    assert response.status_code == 200, response.text


def _arrive(stack: dict[str, str], crm: Crm, customer: dict, order: dict) -> str:
    """Send both; wait for both in the CRM; the phone as the CRM stored it (E.164)."""
    _deliver(stack, "customers/create", customer)
    _deliver(stack, "orders/create", order)
    rows = crm.wait_for(
        "SELECT customer.phone AS phone FROM {ds}.order_events WHERE order_id = @o",
        lambda rows: bool(rows),
        o=str(order["id"]),
    )
    crm.wait_for(
        "SELECT 1 FROM {ds}.customer_events WHERE customer_id = @c",
        lambda rows: bool(rows),
        c=str(customer["id"]),
    )
    assert rows[0]["phone"]
    return str(rows[0]["phone"])


def _tables_holding(crm: Crm, needles: list[str]) -> dict[str, int]:
    found = {}
    for table in crm.client.list_tables(f"{crm.client.project}.{crm.dataset}"):
        if table.table_type != "TABLE":
            continue
        rows = crm.query(
            f"SELECT COUNT(*) AS n FROM {{ds}}.{table.table_id} AS t "  # noqa: S608
            "WHERE STRPOS(LOWER(TO_JSON_STRING(t)), @a) > 0 "
            "OR STRPOS(LOWER(TO_JSON_STRING(t)), @b) > 0",
            a=needles[0].lower(),
            b=needles[1].lower(),
        )
        if rows[0]["n"]:
            found[table.table_id] = rows[0]["n"]
    return found


def test_redacted_customer_leaves_no_email_or_phone_in_any_table(
    stack: dict[str, str], stack_crm: Crm
) -> None:
    tag = random.randrange(10**8, 10**9)
    customer_id, order_id = 7_000_000_000 + tag, 8_000_000_000 + tag
    email = f"erase.me.{tag}@example.com"
    digits = f"{tag % 10_000_000:07d}"  # a Ukrainian mobile, as the marketplace writes them
    customer, order = _customer_and_order(customer_id, order_id, email, f"+38067{digits}")
    phone = _arrive(stack, stack_crm, customer, order)
    from devstack.mail import deliver_and_notify

    deliver_and_notify(
        stack, _marketplace_mail(f"SM-{tag}", f"067 {digits[:3]} {digits[3:5]} {digits[5:]}")
    )
    by_mail = stack_crm.wait_for(
        "SELECT order_id, shop FROM {ds}.order_events"
        " WHERE source LIKE 'email:%' AND customer.phone = @p",
        lambda rows: bool(rows),
        p=phone,
    )
    assert by_mail[0]["shop"] != stack["SHOPIFY_SHOP_DOMAIN"]  # kept under the mailbox
    assert _tables_holding(stack_crm, [email, phone])  # the data is there to begin with
    os.environ["FIRESTORE_EMULATOR_HOST"] = stack["FIRESTORE_EMULATOR_HOST"]
    from google.cloud import firestore

    contact = firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"]).document(
        f"e2e_contacts/{tag}"
    )
    contact.set({"email": email, "source": "chat", "subscriber": {"phone": phone}})

    redact = {
        "shop_id": 954889,
        "shop_domain": stack["SHOPIFY_SHOP_DOMAIN"],
        "customer": {"id": customer_id, "email": email, "phone": phone},
        "orders_to_redact": [order_id],
    }
    _deliver(stack, "customers/redact", redact)
    request_id = stack_crm.wait_for(
        "SELECT request_id FROM {ds}.privacy_requests WHERE customer_id = @c",
        lambda rows: bool(rows),
        c=str(customer_id),
    )[0]["request_id"]

    ran = requests.post(stack["PRIVACY_ERASE_URL"] + "/", timeout=120)

    assert ran.status_code == 200, ran.text
    assert request_id in ran.json()["done"]
    assert _tables_holding(stack_crm, [email, phone]) == {}
    left = contact.get().to_dict() or {}
    assert left["email"] is None and left["subscriber"]["phone"] is None
    assert left["source"] == "chat"
    kept = stack_crm.query(
        "SELECT total, customer.id AS customer FROM {ds}.orders WHERE order_id = @o",
        o=str(order_id),
    )
    assert kept and kept[0]["total"] is not None and kept[0]["customer"] == str(customer_id)
    mail_order = stack_crm.query(
        "SELECT total, customer.name AS name FROM {ds}.orders WHERE order_id = @o",
        o=by_mail[0]["order_id"],
    )
    assert mail_order[0]["total"] is not None and mail_order[0]["name"] is None
    audit = stack_crm.query(
        "SELECT status, order_ids, TO_JSON_STRING(a) AS text "
        "FROM {ds}.privacy_erasures AS a WHERE request_id = @r",
        r=request_id,
    )
    assert [a["status"] for a in audit] == ["done"]
    assert {str(order_id), by_mail[0]["order_id"]} <= set(audit[0]["order_ids"])
    assert email not in audit[0]["text"] and phone not in audit[0]["text"]

    again = requests.post(stack["PRIVACY_ERASE_URL"] + "/", timeout=120)
    assert request_id not in again.json()["done"]  # done once, not worked on again


def test_data_request_is_written_as_a_file_for_the_operator(
    stack: dict[str, str], stack_crm: Crm, tmp_path: Path
) -> None:
    tag = random.randrange(10**8, 10**9)
    customer_id, order_id = 5_000_000_000 + tag, 6_000_000_000 + tag
    email = f"export.me.{tag}@example.com"
    customer, order = _customer_and_order(
        customer_id, order_id, email, f"+1212555{tag % 10000:04d}"
    )
    _arrive(stack, stack_crm, customer, order)
    _deliver(
        stack,
        "customers/data_request",
        {
            "shop_id": 954889,
            "shop_domain": stack["SHOPIFY_SHOP_DOMAIN"],
            "customer": {"id": customer_id, "email": email},
            "orders_requested": [order_id],
            "data_request": {"id": tag},
        },
    )
    request_id = stack_crm.wait_for(
        "SELECT request_id FROM {ds}.privacy_requests WHERE customer_id = @c",
        lambda rows: bool(rows),
        c=str(customer_id),
    )[0]["request_id"]
    out = tmp_path / "export.json"

    done = subprocess.run(
        [str(ROOT / "scripts" / "privacy_export"), "--dev", request_id, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ORDERHUB_DEV_DIR": str(Path(os.environ["ORDERHUB_DEV_DIR"]))},
    )

    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert [c["email"] for c in document["customers"]] == [email]
    assert [o["order_id"] for o in document["orders"]] == [str(order_id)]
    audit = stack_crm.query(
        "SELECT status FROM {ds}.privacy_erasures WHERE request_id = @r", r=request_id
    )
    assert [a["status"] for a in audit] == ["exported"]
