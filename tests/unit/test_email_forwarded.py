"""Mail an owner forwards from another Gmail mailbox (issue 25, item 4): trusted only when
Gmail's own verdict covers the original sender: its DKIM pass (a Gmail filter forward keeps
the signature), or, when the signature broke on the way, the verdict Gmail recorded at the
first mailbox in its own ARC set, read only when Gmail says ``arc=pass`` and the newest set
is sealed by ``google.com``. The samples are ``kiire_two_items_fee_discount.eml`` with the
headers Gmail adds when it forwards (tests/fixtures/SOURCES.md)."""

from __future__ import annotations

import pytest

from orderhub import mime
from orderhub.sources import email, mail
from tests.conftest import FIXTURES
from tests.unit.test_email_rules import AT, gmail_b64

MAILS = FIXTURES / "email"


def events(name: str):
    return mail.message_events(
        mailbox="orders.shop@gmail.example",
        message={
            "id": "19a0f0rward000001",
            "internalDate": "1764186150000",
            "raw": gmail_b64((MAILS / name).read_bytes()),
        },
        rules=email.shipped_rules(),
        now=AT,
    )


@pytest.mark.parametrize(
    "name", ["kiire_forwarded_dkim_intact.eml", "kiire_forwarded_arc_pass_dkim_broken.eml"]
)
def test_a_forward_gmail_vouches_for_becomes_the_order(name):
    [(outcome, event, reason)] = events(name)
    assert (outcome, reason) == ("order", None)
    assert event["entity"]["number"] == "K-7Q2M9"
    assert event["entity"]["total"]["amount"] == "9.73"


def test_the_broken_signature_is_accepted_only_through_gmails_arc_verdict():
    parsed = mime.parse((MAILS / "kiire_forwarded_arc_pass_dkim_broken.eml").read_bytes())
    verdict = parsed.verdict
    assert (verdict.dkim, verdict.dmarc, verdict.arc) == (frozenset(), frozenset(), "pass")
    assert verdict.forwarded is not None
    assert verdict.forwarded.dmarc == {"partners.kiire.example"}


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("kiire_forwarded_arc_fail.eml", "Gmail says: no DKIM or DMARC pass; arc=fail"),
        (
            "kiire_forwarded_other_sealer.eml",
            "Gmail says: no DKIM or DMARC pass; arc=pass; ARC sealed by "
            "mail.example-provider.net, not by Gmail: not read",
        ),
    ],
)
def test_a_forward_gmail_does_not_vouch_for_is_quarantined_with_the_verdict_shown(name, shown):
    [(outcome, event, reason)] = events(name)
    assert outcome == "quarantined"
    assert reason is not None
    assert reason.startswith("sender: Gmail did not authenticate the sender's domain")
    assert shown in reason
    assert "layout" not in reason  # a mail not vouched for says nothing of the layout
    assert event["entity"]["reason"] == reason


def test_an_arc_set_of_a_higher_instance_by_another_sealer_hides_gmails_older_one():
    # The newest set is what the last hop sealed; an older Google set below a stranger's
    # says nothing about what reached this mailbox.
    raw = (MAILS / "kiire_forwarded_arc_pass_dkim_broken.eml").read_bytes()
    stranger = (
        b"ARC-Seal: i=2; a=rsa-sha256; t=1764186152; cv=pass; d=relay.example; s=a; b=eA==\n"
        b"ARC-Authentication-Results: i=2; mx.google.com;"
        b" dkim=pass header.d=partners.kiire.example\n"
    )
    parsed = mime.parse(stranger + raw)
    assert parsed.verdict.forwarded is None
    assert email.authentication_problem(email.match(email.shipped_rules(), parsed), parsed)
