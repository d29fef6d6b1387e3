"""Issue 21: erasure that proves itself, on the BigQuery and Firestore emulators.

One customer arrives through every path that can hold her: Shopify (customer, order, and a
copy held by an inbound switch), the marketplace e-mail, the order form, the chat-bot (a
contact with her phone, e-mail and name), and the two-way sync (a sync_log row keyed by her
phone, a quarantine alert naming it, a Firestore link keyed by it). After the erasure job
no table and no document holds her name, phone or e-mail, and the job says ``done`` only
then; its audit keeps keyed digests, never the identifiers.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud import firestore

from devstack.shopify_sender import fixture
from orderhub.chatbot import contacts
from orderhub.event import Event, make_event
from orderhub.order_form import identity
from orderhub.privacy_erase import erasure
from orderhub.privacy_erase.documents import FirestoreDocuments
from orderhub.privacy_erase.export import export_customer
from orderhub.privacy_erase.warehouse import BigQueryWarehouse
from orderhub.sinks.bigquery import BigQueryInserter, write_event
from orderhub.sources import email as email_rules
from orderhub.sources import mail, manual, shopify
from tests.conftest import Crm, unique
from tests.unit.test_email_rules import message

SHOP = "erase-paths.myshopify.com"
MAILBOX = "owner@shop.example"
KEY = "k" * 32
NAME = "João Simões"  # as the Kiire sample names its customer
PHONE = "+351912345678"  # the Kiire sample's 912 345 678


def _write(crm: Crm, event: Event) -> None:
    inserter = BigQueryInserter(crm.client, crm.dataset)
    write_event(event, inserter=inserter, now=lambda: datetime.now(UTC))


def _shopify(topic: str, payload: dict[str, Any]) -> Event:
    body = json.dumps(payload).encode()
    now = datetime.now(UTC)
    delivery = shopify.Delivery(topic, SHOP, unique("wh"), None, None, now)
    raw = {
        "raw_id": unique("raw"),
        "kind": "shopify_webhook",
        "received_at": now.isoformat(),
        "sha256": "0",
        "body": body.decode(),
        "meta": {"topic": topic},
    }
    return shopify.normalise(delivery, body, raw)  # type: ignore[arg-type]


def _tables_holding(crm: Crm, needles: list[str]) -> dict[str, int]:
    found = {}
    for table in crm.client.list_tables(f"{crm.client.project}.{crm.dataset}"):
        if table.table_type != "TABLE" or table.table_id == erasure.AUDIT_TABLE:
            continue
        where = " OR ".join(
            f"STRPOS(LOWER(TO_JSON_STRING(t)), @n{i}) > 0" for i in range(len(needles))
        )
        rows = crm.query(
            f"SELECT COUNT(*) AS n FROM {{ds}}.{table.table_id} AS t WHERE {where}",  # noqa: S608
            **{f"n{i}": n.lower() for i, n in enumerate(needles)},
        )
        if rows[0]["n"]:
            found[table.table_id] = rows[0]["n"]
    return found


@pytest.fixture
def db(emulators: dict[str, str]) -> firestore.Client:
    return firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"])


def test_a_customer_from_every_path_is_erased_and_proven_gone(crm: Crm, db: Any) -> None:
    tag = random.randrange(10**8, 10**9)
    email = f"erase.{tag}@example.com"
    customer_id, order_id = 9_100_000_000 + tag, 9_200_000_000 + tag
    # Shopify: the customer, her order, and a copy of each held by an inbound switch.
    customer = {**fixture("customer"), "id": customer_id, "email": email, "phone": PHONE}
    customer.update(first_name="João", last_name="Simões")
    order = {**fixture("order"), "id": order_id, "email": email, "phone": PHONE}
    order["customer"] = {**order["customer"], "id": customer_id, "email": email, "phone": PHONE}
    for topic, payload in (("customers/create", customer), ("orders/create", order)):
        _write(crm, _shopify(topic, payload))
    # The marketplace's e-mail: the Kiire sample, her phone and name.
    [(kind, by_mail, _)] = mail.message_events(
        mailbox=MAILBOX,
        message=message("kiire_two_items_fee_discount.eml"),
        rules=email_rules.shipped_rules(),
        now=datetime.now(UTC),
    )
    assert kind == "order"
    _write(crm, by_mail)
    # The order form.
    form, problems = manual.validate(
        manual.read_form(
            {
                "customer_name": NAME,
                "phone": PHONE,
                "email": email,
                "delivery_method": "pickup",
                "channel": next(iter(manual.CHANNELS)),
                "lines-0-title": "Tea",
                "lines-0-quantity": "1",
                "lines-0-price": "5",
            }
        ),
        link_mode=False,
        default_country="PT",
        currency="EUR",
        delivery_methods=("pickup",),
    )
    assert form is not None, problems
    _write(crm, manual.order_event(form, manager="demo", form_token=unique("t") * 2, shop=SHOP,
                                   at=datetime.now(UTC)))  # fmt: skip
    # The chat-bot: a contact with her phone, e-mail and name, typed in a custom field too.
    subscriber = {
        "id": str(1_000_000 + tag),
        "name": NAME,
        "first_name": "João",
        "phone": "912 345 678",
        "email": email,
        "live_chat_url": f"https://manychat.com/fb1/chat/{1_000_000 + tag}",
        "last_interaction": datetime.now(UTC).isoformat(),
        "custom_fields": {"address": "Rua da Conceição 14", "email_address": email},
    }
    chat: list[Event] = []
    contacts.receive(
        json.dumps(subscriber).encode(),
        shop=SHOP,
        publish=chat.append,
        now=lambda: datetime.now(UTC),
        default_country="PT",
        attribution_days=30,
    )
    _write(crm, chat[0])
    # A manager confirmed in the CRM app that the contact is her (contact_identities).
    _write(crm, identity.decision_event(
        "confirmed", shop=SHOP, contact=chat[0]["entity"], manager="demo", manager_name="Demo",
        token=manual.new_form_token(datetime.now(UTC)), at=datetime.now(UTC)))  # fmt: skip
    # The sync: a log row keyed by her phone, its alert in quarantine, a link in Firestore.
    now = datetime.now(UTC)
    failed = {
        "log_id": unique("log"),
        "shop": SHOP,
        "direction": "crm_to_shopify",
        "entity": "customer",
        "source": "form",
        "record_id": PHONE,
        "status": "failed",
        "reason": f"Shopify refused it: email {email} is taken",
        "attempted_at": now.isoformat(),
    }
    table = f"{crm.client.project}.{crm.dataset}.sync_log"
    assert not crm.client.insert_rows_json(table, [failed])
    alert = make_event(
        event_type="payload.quarantined",
        source="form",
        shop=SHOP,
        occurred_at=now,
        version=0,
        entity_id=unique("alert"),
        entity={
            "reason": "Not written to Shopify",
            "kind": "shopify_sync",
            "topic": f"customer {PHONE}",
            "ref": PHONE,
        },
        id_parts=("shopify_sync",),
    )
    _write(crm, alert)
    prefix = f"erase{tag}_"
    link = db.document(f"{prefix}shopify_links/{SHOP}|customer|form|{PHONE}")
    link.set({"shopify_id": "gid://shopify/Customer/1"})
    needles = [email, PHONE, NAME]
    before = _tables_holding(crm, needles)
    assert {"order_events", "customer_events", "contact_events", "sync_log", "quarantine"} <= set(
        before
    ), before
    assert "contact_events" in _tables_holding(crm, [NAME])  # the name is searchable too
    assert "contact_identities" in before, before

    request = erasure.Request("req-every-path", erasure.REDACT, SHOP, str(customer_id),
                              (str(order_id),), None)  # fmt: skip
    # A data request first: the file holds the chat contact and the sync's records too.
    exported = export_customer(request, BigQueryWarehouse(crm.client, crm.dataset))
    assert [c["contact_id"] for c in exported["chat_contacts"]] == [subscriber["id"]]
    assert [r["record_id"] for r in exported["sync_records"]] == [PHONE]
    decided = [(r["contact_id"], r["decision"]) for r in exported["contact_identities"]]
    assert decided == [(subscriber["id"], "confirmed")]  # the manager's decision about her
    outcome = erasure.erase_customer(
        request,
        warehouse=BigQueryWarehouse(crm.client, crm.dataset),
        documents=FirestoreDocuments(db, prefix=prefix),
        key=KEY,
    )

    assert _tables_holding(crm, needles) == {}
    assert not link.get().exists
    assert outcome.status == "done", outcome.not_erased
    assert erasure.digest(KEY, email) in outcome.digests
    row = erasure.audit_row(outcome, now=datetime.now(UTC))
    assert email not in json.dumps(row) and PHONE not in json.dumps(row)
    kept = crm.query("SELECT total FROM {ds}.order_events WHERE order_id = @o", o=str(order_id))
    assert kept and kept[0]["total"] is not None  # the sales figures stay
