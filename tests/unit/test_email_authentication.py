"""A forged "paid" marketplace order (issue 11, item 1): only Gmail's own verdict, read as
RFC 8601 defines it, makes a marketplace mail an order.

The attacker chooses the envelope sender (``MAIL FROM``). Gmail repeats it in the SPF
comment and in ``smtp.mailfrom``, so an address such as
``dkim=pass.header.d=partners.kiire.example@attacker.example`` writes "dkim=pass ...
header.d=<marketplace>" into Gmail's header while Gmail's real results say ``dkim=none``
and ``dmarc=fail``. Header shapes follow real Gmail headers (``smtp.mailfrom`` quoted when
the local part holds ``=``, folded with seven spaces, ``header.i=@domain``).
"""

import pytest

from orderhub import mime
from orderhub.sources import email, mail
from tests.conftest import FIXTURES
from tests.unit.test_email_rules import AT, gmail_b64

RULES = email.shipped_rules()
GENUINE = (FIXTURES / "email" / "kiire_plain_text.eml").read_bytes()
GMAIL_VERDICT = GENUINE.split(b"From:", 1)[0]  # the Authentication-Results Gmail added on top
BODY = GENUINE[len(GMAIL_VERDICT) :]
MARKET = b"partners.kiire.example"
EVIL = b"dkim=pass.header.d=" + MARKET + b"@attacker.example"
EVIL_DMARC = b"dmarc=pass.header.from=" + MARKET + b"@attacker.example"
#: What Gmail really concluded about the forged mail: no signature, DMARC failed.
REAL_FAIL = (
    b"dkim=none;\n       dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=" + MARKET
)


def spf(sender: bytes, *, comment: bytes | None = None, quoted: bool = True) -> bytes:
    """Gmail's SPF clause for an envelope sender, as Gmail writes it."""
    comment = comment if comment is not None else sender
    value = b'"' + sender + b'"' if quoted else sender
    return (
        b"spf=pass (google.com: domain of " + comment + b" designates 192.0.2.66 as "
        b"permitted sender) smtp.mailfrom=" + value
    )


def gmail_header(*clauses: bytes, authserv: bytes = b"mx.google.com") -> bytes:
    return (
        b"Authentication-Results: " + authserv + b";\n       " + b";\n       ".join(clauses) + b"\n"
    )


def outcome_of(headers: bytes) -> tuple[str, str | None]:
    [(outcome, _, reason)] = mail.message_events(
        mailbox="owner@shop.example",
        message={
            "id": "18c0ffee0000f00d",
            "internalDate": "1764158400000",
            "raw": gmail_b64(headers + BODY),
        },
        rules=RULES,
        now=AT,
    )
    return outcome, reason


FORGED = {
    # the envelope sender in Gmail's SPF comment (with an ordinary smtp.mailfrom)
    "in-the-comment": gmail_header(
        REAL_FAIL.split(b";")[0],
        spf(b"bounce@attacker.example", comment=EVIL),
        REAL_FAIL.split(b";\n       ")[1],
    ),
    # ... in smtp.mailfrom, quoted as Gmail quotes a local part holding "="
    "in-smtp-mailfrom-quoted": gmail_header(
        b"dkim=none",
        spf(EVIL, comment=b"bounce@attacker.example"),
        REAL_FAIL.split(b";\n       ")[1],
    ),
    # ... in smtp.mailfrom, unquoted
    "in-smtp-mailfrom": gmail_header(
        b"dkim=none",
        spf(EVIL, comment=b"bounce@attacker.example", quoted=False),
        REAL_FAIL.split(b";\n       ")[1],
    ),
    # ... both, as Gmail really writes it
    "comment-and-mailfrom": gmail_header(
        b"dkim=none", spf(EVIL), REAL_FAIL.split(b";\n       ")[1]
    ),
    # ... a DMARC pass spelt into the sender while Gmail's DMARC result is fail
    "dmarc-fail-with-dmarc-pass-in-sender": gmail_header(
        b"dkim=none", spf(EVIL_DMARC), REAL_FAIL.split(b";\n       ")[1]
    ),
    # ... with Gmail's header folded inside the comment and before the value
    "folded": b"Authentication-Results: mx.google.com;\n       dkim=none;\n       spf=pass"
    b" (google.com: domain of\n\t" + EVIL + b"\n        designates 192.0.2.66 as permitted sender)"
    b"\n       smtp.mailfrom=\n        " + EVIL + b";\n       dmarc=fail (p=REJECT sp=REJECT"
    b" dis=QUARANTINE)\n        header.from=" + MARKET + b"\n",
    # ... and a second header below Gmail's, forged by the sender, claiming every pass
    "second-header-below": gmail_header(b"dkim=none", spf(EVIL), REAL_FAIL.split(b";\n       ")[1])
    + gmail_header(b"dkim=pass header.d=" + MARKET, b"dmarc=pass header.from=" + MARKET),
    # ... a header of another server above Gmail's, claiming every pass
    "second-header-above": gmail_header(
        b"dkim=pass header.d=" + MARKET,
        b"dmarc=pass header.from=" + MARKET,
        authserv=b"relay.attacker.example",
    )
    + gmail_header(b"dkim=none", spf(EVIL), REAL_FAIL.split(b";\n       ")[1]),
    # only a non-Google server's word, however much it looks like Google's
    "non-google-authserv-id": gmail_header(
        b"dkim=pass header.d=" + MARKET,
        b"dmarc=pass header.from=" + MARKET,
        authserv=b"mx.google.com.attacker.example",
    ),
    # a real DKIM pass, for the attacker's own domain, whose AUID's local part is the
    # marketplace's domain: header.i=<marketplace>@attacker.example
    "dkim-pass-for-another-domain": gmail_header(
        b"dkim=pass header.i=" + MARKET + b"@attacker.example header.s=s1 header.b=Zm9vYmFy",
        spf(b"bounce@attacker.example"),
        b"dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=" + MARKET,
    ),
    # a DKIM pass for a bare top-level domain aligns with nothing
    "dkim-pass-for-a-tld": gmail_header(
        b"dkim=pass header.i=@example header.s=s1 header.b=Zm9vYmFy",
        b"dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=" + MARKET,
    ),
    # Gmail's real verdict for a forged mail: no pass at all
    "dmarc-fail": gmail_header(
        b"dkim=none", spf(b"bounce@attacker.example"), REAL_FAIL.split(b";\n       ")[1]
    ),
    # a header that does not parse vouches for nothing
    "unparseable": b"Authentication-Results: mx.google.com; dkim=pass (unclosed comment header.d="
    + MARKET
    + b"\n",
}


@pytest.mark.parametrize("headers", FORGED.values(), ids=FORGED.keys())
def test_a_forged_marketplace_order_is_quarantined_never_an_order(headers):
    assert EVIL in headers or MARKET in headers
    outcome, reason = outcome_of(headers)
    assert outcome == "quarantined", reason
    assert "Gmail did not authenticate the sender's domain" in reason


GENUINE_VERDICTS = {
    "gmail-as-shipped": GMAIL_VERDICT,
    "dkim-only": gmail_header(
        b"dkim=pass header.i=@" + MARKET + b' header.s=mail header.b="Zm9v/+Ya"'
    ),
    "dmarc-only": gmail_header(
        b"dkim=none", b"dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=" + MARKET
    ),
    # relaxed alignment: signed by the organisation's parent domain
    "dkim-by-parent-domain": gmail_header(
        b"dkim=pass header.d=kiire.example header.i=@kiire.example"
    ),
    # a non-Google header above Gmail's is not Gmail's word and does not hide it
    "other-server-above": gmail_header(b"dkim=fail header.d=" + MARKET, authserv=b"relay.example")
    + GMAIL_VERDICT,
}


@pytest.mark.parametrize("headers", GENUINE_VERDICTS.values(), ids=GENUINE_VERDICTS.keys())
def test_the_marketplace_mail_gmail_vouches_for_is_an_order(headers):
    assert outcome_of(headers) == ("order", None)


def test_each_method_is_read_from_its_own_clause():
    verdict = mime.verdict_of(
        [
            "mx.google.com;\n       dkim=pass header.i=@fb.com header.s=facebook"
            " header.b=N5uvdv1C;\n"
            "       spf=pass (google.com: domain of prvs=1=a@fb.com designates 1.2.3.4 as permitted"
            ' sender) smtp.mailfrom="dkim=pass.header.d=evil.example@fb.com";\n'
            "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=fb.com;\n"
            "       dara=pass header.i=@gmail.com"
        ]
    )
    assert verdict == mime.Verdict(dkim=frozenset({"fb.com"}), dmarc=frozenset({"fb.com"}))


def test_a_from_domain_outside_the_rules_domains_is_quarantined_even_if_signed(tmp_path):
    """A loose ``match.from`` (any "orders@") would let the attacker's own, genuinely
    signed domain through; ``match.domains`` says which From domains are the service's."""
    (tmp_path / "pronto.yaml").write_text(
        """
service: pronto
match: {from: '^orders@', subject: '^Order P-', domains: [pronto.example]}
defaults: {currency: PLN, phone_region: PL}
fields:
  order_number: {regex: '^Order (P-\\d+)'}
  total: {regex: '^Sum: (.+)$'}
line_items:
  regex: '^(?P<quantity>\\d+) x (?P<name>.+) @ (?P<price>.+)$'
""",
        encoding="utf-8",
    )
    rules = email.shipped_rules(tmp_path)

    def read(domain: str) -> email.Extraction:
        raw = (
            f"Authentication-Results: mx.google.com; dkim=pass header.i=@{domain};"
            f" dmarc=pass header.from={domain}\r\n"
            f"From: <orders@{domain}>\r\nSubject: Order P-991\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "Order P-991\r\n2 x Pierogi @ 18,50 zl\r\nSum: 37,00 zl\r\n"
        ).encode()
        mail = mime.parse(raw)
        return email.extract(email.match(rules, mail), mail)

    assert read("pronto.example").complete
    forged = read("attacker.example")
    assert "sender: attacker.example is not one of the service's domains" in forged.problems
