"""A recognised mail with an absurd value is a parse problem, never an exception.

Issue 13 (item 2): a 30-digit total made ``quantize`` raise ``decimal.InvalidOperation``,
nothing caught it, and every later sync died at the same mail. Any value read from a
mail (money, dates, phones, quantities, sizes, the rules' regexes over the text) can be
hostile; each becomes a reason on the quarantined mail, and the mail after it is read.
"""

from datetime import UTC, datetime

import pytest

from orderhub import mime
from orderhub.errors import ConfigError
from orderhub.sources import email, mail
from tests.conftest import FIXTURES
from tests.unit.test_email_rules import AT, gmail_b64

RULES = email.shipped_rules()
GENUINE = (FIXTURES / "email" / "kiire_plain_text.eml").read_bytes()


def outcome_of(raw: bytes) -> tuple[str, str | None]:
    [(outcome, _, reason)] = mail.message_events(
        mailbox="owner@shop.example",
        message={"id": "18c0ffee0000dead", "internalDate": "1764158400000", "raw": gmail_b64(raw)},
        rules=RULES,
        now=AT,
    )
    return outcome, reason


def edited(old: bytes, new: bytes) -> bytes:
    assert old in GENUINE
    return GENUINE.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        # 30 digits: more than Decimal's 28-digit context can quantize
        (
            b"Total: =E2=82=AC5.00",
            b"Total: =E2=82=AC" + b"9" * 30 + b".00",
            "total: not a plausible amount (30 digits)",
        ),
        (
            b"Total: =E2=82=AC5.00",
            b"Total: =E2=82=AC" + b"1" * 1500,
            "total: not a plausible amount (1500 digits)",
        ),
        (
            b"=E2=82=AC1.20\n",
            b"=E2=82=AC" + b"9" * 30 + b".20\n",
            "line_items: not a plausible amount (30 digits)",
        ),
        (
            b"Delivery fee: =E2=82=AC0.00",
            b"Delivery fee: =E2=82=AC1" + b"0" * 40,
            "delivery_fee: not a plausible amount",
        ),
        # a year Python cannot move to UTC, and one no order has
        (
            b"Placed: 2026-11-25 19:30",
            b"Placed: 0001-01-01 00:00",
            "order_time: 1 is not a plausible year",
        ),
        (
            b"Placed: 2026-11-25 19:30",
            b"Placed: 9999-12-31 23:59",
            "order_time: 9999 is not a plausible year",
        ),
        (b"Placed: 2026-11-25 19:30", b"Placed: 2026-13-45 99:99", "order_time: does not match"),
        # a phone number that is a novel
        (b"Phone: +351 936 112 233", b"Phone: +351 " + b"9" * 5000, "phone: over 2000 characters"),
        (b"Phone: +351 936 112 233", b"Phone: +351 " + b"9" * 300, "phone: not a phone number"),
        (
            b"Customer: Maria Fernandes",
            b"Customer: " + b"M" * 5000,
            "customer_name: over 2000 characters",
        ),
    ],
    ids=[
        "total-30-digits",
        "total-1500-digits",
        "line-price-30-digits",
        "fee-41-digits",
        "year-1",
        "year-9999",
        "impossible-date",
        "phone-5000-digits",
        "phone-300-digits",
        "name-5000-chars",
    ],
)
def test_an_absurd_value_quarantines_the_mail_with_the_reason(old, new, complaint):
    outcome, reason = outcome_of(edited(old, new))
    assert outcome == "quarantined"
    assert complaint in reason


def test_the_order_mail_after_an_absurd_one_is_still_read():
    absurd = edited(b"Total: =E2=82=AC5.00", b"Total: =E2=82=AC" + b"9" * 30 + b".00")
    assert [outcome_of(raw)[0] for raw in (absurd, GENUINE)] == ["quarantined", "order"]


def test_a_body_too_big_to_read_is_quarantined_with_the_reason():
    huge = edited(b"Kiire Food - partner notifications", b"x" * (email.MAX_BODY_CHARS + 1))
    outcome, reason = outcome_of(huge)
    assert outcome == "quarantined"
    assert "body: the mail's body is over 500,000 characters" in reason


@pytest.mark.parametrize("charset", [b"idna", b"punycode", b"rot13", b"x-no-such-charset"])
def test_a_lying_charset_does_not_stop_the_mail_being_read(charset):
    raw = edited(b'charset="utf-8"', b'charset="' + charset + b'"')
    mail = mime.parse(raw)
    assert "Maria Fernandes" in (mail.text or "")


def test_a_rules_regex_runs_in_linear_time_on_hostile_text(tmp_path):
    """``(a+)+$`` backtracks exponentially in Python's ``re`` on ``aaa...ab``: 2^60 steps
    here. The rules' regexes run on RE2, which answers at once."""
    (tmp_path / "pronto.yaml").write_text(
        """
service: pronto
match: {from: '@pronto\\.example$', subject: '^Order P-', authenticated: false}
defaults: {currency: PLN}
fields:
  order_number: {regex: '^Order (P-\\d+)'}
  note: {regex: '^((a+)+)$'}
  total: {regex: '^Sum: (.+)$'}
line_items:
  regex: '^(?P<quantity>\\d+) x (?P<name>.+) @ (?P<price>.+)$'
""",
        encoding="utf-8",
    )
    raw = (
        "From: <orders@pronto.example>\r\nSubject: Order P-991\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Order P-991\r\n{'a' * 60}b\r\n2 x Pierogi @ 18,50 zl\r\nSum: 37,00 zl\r\n"
    ).encode()
    mail = mime.parse(raw)

    extraction = email.extract(email.match(email.shipped_rules(tmp_path), mail), mail)

    assert extraction.complete, extraction.problems
    assert "note" not in extraction.values


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [
        ("(?<=Total: )(.+)", "invalid perl operator"),  # look-behind: RE2 has none
        ("^(\\w+) \\1$", "invalid escape sequence"),  # a back-reference
    ],
)
def test_a_rules_regex_that_could_backtrack_is_refused_at_load(pattern, complaint):
    document = {
        "service": "x",
        "match": {"from": "a", "subject": "s"},
        "fields": {"total": {"regex": pattern}},
        "line_items": {"regex": "(?P<name>a)(?P<price>b)"},
    }
    with pytest.raises(ConfigError) as error:
        email.load_rules(document, "rules/x.yaml")
    assert "rules/x.yaml: fields.total[0].regex is not a valid regular expression" in str(
        error.value
    )
    assert complaint in str(error.value)


def test_html_nested_deeper_than_any_mail_is_quarantined_not_a_stall():
    """CSS matching walks up from every candidate element: thousands of nested rows cost
    seconds per selector. No order mail nests 256 levels deep."""
    html = edited(
        b'Content-Type: text/plain; charset="utf-8"', b'Content-Type: text/html; charset="utf-8"'
    )
    deep = html.replace(b"Kiire Food - partner notifications", b"<div>" * 300 + b"</div>" * 300)
    outcome, reason = outcome_of(deep)
    assert outcome == "quarantined"
    assert "body: the mail's HTML is nested over 256 levels deep" in reason


@pytest.mark.parametrize(
    "date",
    [b"Mon, 01 Jan 1900 00:00:00 +0000", b"Fri, 31 Dec 9999 23:59:59 -1200", b"Sat, 99 Foo 20"],
)
def test_an_impossible_date_header_is_no_date_and_the_order_keeps_its_own_time(date):
    """Without an order time in the body the Date header is the order's time; one that
    cannot be converted to UTC falls back to Gmail's arrival time."""
    raw = edited(b"Placed: 2026-11-25 19:30\n", b"").replace(
        b"Date: Wed, 25 Nov 2026 19:30:02 +0000", b"Date: " + date
    )
    assert mime.parse(raw).date is None
    [(outcome, event, _)] = mail.message_events(
        mailbox="owner@shop.example",
        message={"id": "18c0ffee0000da7e", "internalDate": "1764158400000", "raw": gmail_b64(raw)},
        rules=RULES,
        now=AT,
    )
    assert outcome == "order"
    arrived = datetime.fromtimestamp(1764158400, tz=UTC)  # the internalDate above
    assert event["occurred_at"] == arrived.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    "sender",
    [
        b"(" * 900 + b" <no-reply@partners.kiire.example>",  # RecursionError in getaddresses
        b"x" * 2000 + b" <no-reply@partners.kiire.example>",
    ],
    ids=["nested-comments", "novel-length"],
)
def test_a_hostile_from_header_names_no_sender(sender):
    raw = edited(b"From: Kiire Food Partners <no-reply@partners.kiire.example>", b"From: " + sender)
    assert mime.parse(raw).sender == ""
    assert outcome_of(raw) == ("ignored", None)


def test_mime_parts_nested_thousands_deep_are_quarantined_not_a_crash():
    """The standard library parses nested multiparts recursively (RecursionError)."""
    headers, _ = GENUINE.split(b"Content-Transfer-Encoding:", 1)
    body = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(3000)
    )
    body += b"Content-Type: text/plain\n\nNew order #K-3F8LX\n"
    body += b"".join(b"--b%d--\n" % i for i in reversed(range(3000)))
    mail = mime.parse(headers + body)
    assert mail.sender == "no-reply@partners.kiire.example"
    outcome, reason = outcome_of(headers + body)
    assert outcome == "quarantined"
    assert "body: the MIME parts are nested too deep to read" in reason


def test_html_the_parser_rejects_is_quarantined_not_a_crash():
    """``<![`` not followed by a name makes html.parser (through BeautifulSoup) raise."""
    html = edited(
        b'Content-Type: text/plain; charset="utf-8"', b'Content-Type: text/html; charset="utf-8"'
    )
    rejected = html.replace(b"Kiire Food - partner notifications", b"<![ ]>")
    outcome, reason = outcome_of(rejected)
    assert outcome == "quarantined"
    assert "body: the mail's HTML does not parse" in reason


@pytest.mark.parametrize(
    "subject",
    [b"=?utf-8?b?TmV3IG9yZGVyX?= #K-3F8LX", b"=?utf-8\xff?q?New_order?= #K-3F8LX"],
    ids=["broken-base64-word", "undecodable-charset-name"],
)
def test_a_subject_whose_encoded_word_does_not_decode_is_kept_as_written(subject):
    raw = edited(
        b"Subject: =?utf-8?q?New_order_=23K-3F8LX_-_Tasca_do_Bairro?=", b"Subject: " + subject
    )
    mail = mime.parse(raw)
    assert "#K-3F8LX" in mail.subject
    assert outcome_of(raw)[0] == "ignored"  # the subject no longer matches "^New order #K-"
