"""The running stack, end to end: `scripts/dev mail FILE.eml` → Gmail stand-in → push →
gmail_ingest → order-events → crm_writer → the BigQuery `orders` view (and `quarantine`).

The stack's own dataset is shared by every e2e test, so each run uses a mailbox address
of its own (the `shop` of e-mail orders) and looks only at its rows.
"""

from __future__ import annotations

import os
import subprocess
from decimal import Decimal
from typing import Any

from tests.conftest import FIXTURES, ROOT, Crm, unique

MAILS = FIXTURES / "email"

#: sample → (source, total, currency, phone, [(title, quantity, unit price)])
ORDERS = {
    "smakuy_one_item.eml": (
        "SM-48213",
        "email:smakuy",
        "245.00",
        "UAH",
        "+380671234567",
        [("Піца «Маргарита» 30 см", 1, "245.00")],
    ),
    "smakuy_two_items_fee_discount.eml": (
        "SM-48377",
        "email:smakuy",
        "1234.50",
        "UAH",
        "+380507654321",
        [("Набір ролів «Київський»", 1, "1050.00"), ("Лимонад імбирний 0,5 л", 2, "65.25")],
    ),
    "kiire_two_items_fee_discount.eml": (
        "K-7Q2M9",
        "email:kiire",
        "9.73",
        "EUR",
        "+351912345678",
        [("Francesinha especial", 1, "8.50"), ("Sumo de laranja natural", 2, "1.20")],
    ),
    "kiire_plain_text.eml": (
        "K-3F8LX",
        "email:kiire",
        "5.00",
        "EUR",
        "+351936112233",
        [("Bifana no pão", 1, "3.80"), ("Pastel de nata", 1, "1.20")],
    ),
}


def dev_mail(mailbox: str, *names: str) -> None:
    """Exactly what a developer types: scripts/dev mail FILE.eml ... --to ADDRESS."""
    subprocess.run(
        [str(ROOT / "scripts" / "dev"), "mail", *[str(MAILS / n) for n in names], "--to", mailbox],
        check=True,
        env=dict(os.environ),
        capture_output=True,
        timeout=120,
    )


def stack_crm(stack: dict[str, str]) -> Crm:
    from devstack import dataset

    client = dataset.bigquery_client(stack["GOOGLE_CLOUD_PROJECT"], stack["BIGQUERY_EMULATOR_HOST"])
    return Crm(client, stack["BIGQUERY_DATASET"])


def orders(crm: Crm, mailbox: str) -> list[dict[str, Any]]:
    return crm.query(
        "SELECT order_id, source, total, currency, customer.phone AS phone, line_items "
        "FROM {ds}.orders WHERE shop = @shop ORDER BY order_id",
        shop=mailbox,
    )


def test_each_sample_mail_becomes_one_order_and_nothing_else(stack):
    crm = stack_crm(stack)
    mailbox = f"{unique('e2e')}@shop.example"

    dev_mail(mailbox, *ORDERS)
    rows = crm.wait_for(
        "SELECT order_id FROM {ds}.orders WHERE shop = @shop",
        lambda r: len(r) >= len(ORDERS),
        timeout=60,
        shop=mailbox,
    )
    assert len(rows) == len(ORDERS)

    for row in orders(crm, mailbox):
        name = next(n for n, spec in ORDERS.items() if spec[0] == row["order_id"])
        _, source, total, currency, phone, lines = ORDERS[name]
        assert row["source"] == source
        assert row["total"] == Decimal(total)
        assert row["currency"] == currency
        assert row["phone"] == phone
        got = [(li["title"], li["quantity"], li["unit_price"]) for li in row["line_items"]]
        assert got == [(t, q, Decimal(p)) for t, q, p in lines]

    # The same mails again, an unrelated one and a broken one. The broken one comes
    # last: once it is in quarantine, every mail before it has been handled.
    dev_mail(
        mailbox,
        "smakuy_one_item.eml",
        "kiire_two_items_fee_discount.eml",
        "unrelated_newsletter.eml",
        "smakuy_broken.eml",
    )
    quarantined = crm.wait_for(
        "SELECT source, reason, ref FROM {ds}.quarantine WHERE shop = @shop",
        lambda r: len(r) >= 1,
        timeout=60,
        shop=mailbox,
    )
    assert len(quarantined) == 1
    assert quarantined[0]["source"] == "email:smakuy"
    assert "missing phone" in quarantined[0]["reason"]

    assert len(orders(crm, mailbox)) == len(ORDERS)
    # The same mail delivered again is another Gmail message carrying the same order: it
    # is published again as the same event (same event_id), which the views and the
    # notifier keep once.
    versions = crm.query(
        "SELECT DISTINCT event_id FROM {ds}.order_events WHERE shop = @shop", shop=mailbox
    )
    assert len(versions) == len(ORDERS)
    raw = crm.query("SELECT DISTINCT raw_id FROM {ds}.raw_events WHERE shop = @shop", shop=mailbox)
    # each Gmail message kept once: four orders, the two repeats, the broken mail; no
    # newsletter
    assert len(raw) == len(ORDERS) + 2 + 1
