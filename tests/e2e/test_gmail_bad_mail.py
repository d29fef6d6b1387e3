"""On the running stack: a recognised mail that breaks the parser (a 30-digit total) is
quarantined, and the order mail after it still becomes an order within seconds."""

from __future__ import annotations

from decimal import Decimal

from devstack.mail import deliver_and_notify
from tests.conftest import unique
from tests.e2e.test_gmail_to_crm import stack_crm
from tests.gmailfakes import kiire


def test_a_30_digit_total_is_quarantined_and_the_next_order_arrives(stack):
    crm = stack_crm(stack)
    mailbox = f"{unique('e2e')}@shop.example"
    values = dict(stack)

    absurd = deliver_and_notify(
        values, kiire("ABSURD1", total="123456789012345678901234567890.00"), mailbox
    )
    deliver_and_notify(values, kiire("NEXT1"), mailbox)

    rows = crm.wait_for(
        "SELECT order_id, total FROM {ds}.orders WHERE shop = @shop",
        lambda r: len(r) >= 1,
        timeout=20,
        shop=mailbox,
    )
    assert rows == [{"order_id": "K-NEXT1", "total": Decimal("5.00")}]
    quarantined = crm.wait_for(
        "SELECT source, reason, ref FROM {ds}.quarantine WHERE shop = @shop",
        lambda r: len(r) >= 1,
        timeout=20,
        shop=mailbox,
    )
    assert [(q["source"], q["ref"]) for q in quarantined] == [("email:kiire", absurd["id"])]
    # The parser names the absurd total (sources/email.py); were it to raise instead, the
    # sync's per-message guard would quarantine the mail all the same ("could not be ...").
    reason = quarantined[0]["reason"]
    assert "total" in reason or "could not be processed" in reason
