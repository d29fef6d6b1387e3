"""The shipped rules files on the shipped sample mails: what a manager will see in the CRM."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from orderhub import mime
from orderhub.errors import ConfigError
from orderhub.sources import email, mail
from tests.conftest import FIXTURES, load_json

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "event.v1.json").read_text())
MAILS = FIXTURES / "email"
RULES = email.shipped_rules()
AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

#: file → (service, order id, total, currency, phone, [(title, qty, unit price)], fee, discount)
EXPECTED = {
    "smakuy_one_item.eml": (
        "smakuy",
        "SM-48213",
        "245.00",
        "UAH",
        "+380671234567",
        [("Піца «Маргарита» 30 см", 1, "245.00")],
        "0.00",
        "0.00",
    ),
    "smakuy_two_items_fee_discount.eml": (
        "smakuy",
        "SM-48377",
        "1234.50",
        "UAH",
        "+380507654321",
        [("Набір ролів «Київський»", 1, "1050.00"), ("Лимонад імбирний 0,5 л", 2, "65.25")],
        "84.00",
        "30.00",
    ),
    "kiire_two_items_fee_discount.eml": (
        "kiire",
        "K-7Q2M9",
        "9.73",
        "EUR",
        "+351912345678",
        [("Francesinha especial", 1, "8.50"), ("Sumo de laranja natural", 2, "1.20")],
        "1.49",
        "2.66",
    ),
    "kiire_plain_text.eml": (
        "kiire",
        "K-3F8LX",
        "5.00",
        "EUR",
        "+351936112233",
        [("Bifana no pão", 1, "3.80"), ("Pastel de nata", 1, "1.20")],
        "0.00",
        "0.00",
    ),
}


def message(name: str, message_id: str = "18c0ffee00000001") -> dict:
    """A users.messages.get (format=raw) answer carrying the sample mail."""
    raw = (MAILS / name).read_bytes()
    return {
        "id": message_id,
        "threadId": message_id,
        "internalDate": "1764158400000",
        "raw": gmail_b64(raw),
    }


def gmail_b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_becomes_a_valid_order_event(name):
    service, order_id, total, currency, phone, lines, fee, discount = EXPECTED[name]

    [(outcome, event, reason)] = mail.message_events(
        mailbox="owner@shop.example", message=message(name), rules=RULES, now=AT
    )

    assert (outcome, reason) == ("order", None)
    jsonschema.validate(event, SCHEMA)
    order = event["entity"]
    assert event["event_type"] == "order.created"
    assert event["source"] == f"email:{service}"
    assert event["entity_id"] == order["order_id"] == order_id
    assert order["total"] == {"amount": total, "currency": currency}
    assert order["customer"]["phone"] == phone
    assert [
        (li["title"], li["quantity"], li["unit_price"]["amount"]) for li in order["line_items"]
    ] == lines
    assert order["shipping"]["amount"] == fee
    assert order["discounts"]["amount"] == discount
    assert order["attribution"]["channel"] == "email"
    assert event["raw"]["meta"]["gmail_message_id"] == "18c0ffee00000001"


def test_non_utf8_quoted_printable_mail_reads_correctly():
    mail = mime.parse((MAILS / "smakuy_two_items_fee_discount.eml").read_bytes())
    extraction = email.extract(email.match(RULES, mail), mail)

    assert mail.subject == "Нове замовлення № SM-48377"  # RFC 2047, windows-1251
    assert extraction.values["customer_name"] == "Андрій Мельник"
    assert extraction.values["note"] == "Подзвоніть за 10 хвилин"
    assert extraction.values["order_time"].isoformat() == "2026-11-25T13:05:00+02:00"


def test_the_same_order_mailed_twice_is_the_same_event():
    [(_, first, _)] = mail.message_events(
        mailbox="owner@shop.example",
        message=message("kiire_plain_text.eml", "a1"),
        rules=RULES,
        now=AT,
    )
    [(_, second, _)] = mail.message_events(
        mailbox="owner@shop.example",
        message=message("kiire_plain_text.eml", "b2"),
        rules=RULES,
        now=AT,
    )
    assert first["event_id"] == second["event_id"]


def test_a_recognised_but_broken_mail_is_quarantined_with_its_reasons():
    [(outcome, event, reason)] = mail.message_events(
        mailbox="owner@shop.example", message=message("smakuy_broken.eml"), rules=RULES, now=AT
    )

    assert outcome == "quarantined"
    jsonschema.validate(event, SCHEMA)
    assert event["source"] == "email:smakuy"
    assert event["entity"]["ref"] == "18c0ffee00000001"
    assert "missing phone" in reason and "total" in reason and "line_items" in reason
    assert event["entity"]["reason"] == reason
    assert "Subject:" in event["raw"]["body"]  # the MIME itself, for a person to read


def test_mail_from_an_unknown_sender_is_not_an_order():
    [(outcome, event, _)] = mail.message_events(
        mailbox="owner@shop.example",
        message=message("unrelated_newsletter.eml"),
        rules=RULES,
        now=AT,
    )
    assert (outcome, event) == ("ignored", None)


def test_a_total_that_does_not_add_up_is_not_trusted():
    raw = (
        (MAILS / "kiire_plain_text.eml")
        .read_bytes()
        .replace(b"Total: =E2=82=AC5.00", b"Total: =E2=82=AC7.00")
    )
    assert b"7.00" in raw
    mail = mime.parse(raw)
    extraction = email.extract(email.match(RULES, mail), mail)
    assert not extraction.complete
    assert "total 7.00 is not items + fees - discount = 5.00" in extraction.problems


def test_a_third_service_needs_only_a_rules_file(tmp_path):
    (tmp_path / "pronto.yaml").write_text(
        """
service: pronto
match: {from: '@pronto\\.example$', subject: '^Order P-'}
defaults: {currency: PLN, phone_region: PL}
fields:
  order_number: {regex: '^Order (P-\\d+)'}
  customer_name: {regex: '^Name: (.+)$'}
  phone: {regex: '^Tel: (.+)$'}
  total: {regex: '^Sum: (.+)$'}
line_items:
  regex: '^(?P<quantity>\\d+) x (?P<name>.+) @ (?P<price>.+)$'
required: [order_number, phone, total, line_items]
""",
        encoding="utf-8",
    )
    raw = (
        "Authentication-Results: mx.google.com; dmarc=pass (p=NONE) header.from=pronto.example\r\n"
        "From: Pronto <orders@pronto.example>\r\nSubject: Order P-991\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Order P-991\r\nName: Jan Kowalski\r\nTel: 601 234 567\r\n"
        "2 x Pierogi ruskie @ 18,50 zł\r\nSum: 37,00 zł\r\n"
    ).encode()
    rules = email.shipped_rules(tmp_path)
    mail = mime.parse(raw)

    extraction = email.extract(email.match(rules, mail), mail)

    assert extraction.complete, extraction.problems
    assert extraction.values["phone"] == "+48601234567"
    assert extraction.values["total"] == {"amount": "37.00", "currency": "PLN"}
    assert extraction.line_items[0]["quantity"] == 2


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"service": "Bad Name"}, "service must match"),
        (
            {
                "service": "x",
                "match": {"from": "(", "subject": "s"},
                "line_items": {"regex": "(?P<name>a)(?P<price>b)"},
            },
            "match.from is not a valid regular expression",
        ),
        (
            {
                "service": "x",
                "match": {"from": "a", "subject": "s"},
                "fields": {"colour": "x"},
                "line_items": {"regex": "(?P<name>a)(?P<price>b)"},
            },
            "unknown fields",
        ),
        (
            {
                "service": "x",
                "match": {"from": "a", "subject": "s"},
                "line_items": {"regex": "(?P<name>a)"},
            },
            "named groups ['price']",
        ),
        (
            {"service": "x", "match": {"from": "a", "subject": "s"}, "line_items": {}},
            "line_items needs css",
        ),
    ],
)
def test_a_wrong_rules_file_fails_loudly_naming_the_problem(document, complaint):
    with pytest.raises(ConfigError, match=None) as error:
        email.load_rules(document, "rules/x.yaml")
    assert complaint in str(error.value)
    assert "rules/x.yaml" in str(error.value)


def test_real_gmail_full_format_and_push_payloads():
    """Gmail's own examples: the push data decodes to a mailbox and id; a full-format
    message's body is base64url of the decoded (iso-8859-1) text."""
    from orderhub.gmail_ingest.push import notification

    push = load_json("gmail/gmail_pubsub_push_notification_example.json")
    import base64

    data = base64.b64decode(push["message"]["data"])
    assert notification(data) == ("user@example.com", 1234567890)
    full = load_json("gmail/gmail_users_messages_get_format_full_example.json")
    body = mime.b64url_decode(full["payload"]["body"]["data"]).decode("iso-8859-1")
    assert "Stage [Product.Branch.CI/100/Package/1] passed" in body


def test_amounts_in_two_currencies_are_not_mixed_into_one_order():
    raw = (
        (MAILS / "kiire_plain_text.eml")
        .read_bytes()
        .replace(b"Total: =E2=82=AC5.00", b"Total: $5.00")
    )
    mail = mime.parse(raw)
    extraction = email.extract(email.match(RULES, mail), mail)
    assert "currency: amounts in EUR, USD in one order" in extraction.problems


GENUINE = (MAILS / "kiire_plain_text.eml").read_bytes()
GMAIL_VERDICT = GENUINE.split(b"From:", 1)[0]  # the Authentication-Results Gmail added on top


def test_a_forged_sender_hidden_in_an_encoded_word_is_not_the_marketplace():
    forged = GENUINE.replace(
        b"From: Kiire Food Partners <no-reply@partners.kiire.example>",
        b"From: =?utf-8?q?no-reply=40partners=2Ekiire=2Eexample?= <x@evil.example>",
    )
    mail = mime.parse(forged)
    assert mail.sender == "x@evil.example"
    assert email.match(RULES, mail) is None


def test_a_from_with_two_addresses_names_no_sender():
    forged = GENUINE.replace(
        b"From: Kiire Food Partners <no-reply@partners.kiire.example>",
        b'From: "a" <no-reply@partners.kiire.example>, <x@evil.example>',
    )
    assert mime.parse(forged).sender == ""
    assert email.match(RULES, mime.parse(forged)) is None


@pytest.mark.parametrize(
    "verdict",
    [
        b"",  # no verdict at all
        b"Authentication-Results: mx.google.com; dkim=pass header.i=@evil.example;"
        b" dmarc=pass header.from=evil.example\n",  # Gmail vouches for another domain
        b"Authentication-Results: mx.google.com; dmarc=fail header.from=partners.kiire.example\n",
        # a verdict forged by the sender sits below Gmail's real one, and is not read
        b"Authentication-Results: mx.google.com; dmarc=fail header.from=partners.kiire.example\n"
        b"Authentication-Results: mx.google.com; dmarc=pass header.from=partners.kiire.example\n",
    ],
    ids=["none", "other-domain", "dmarc-fail", "forged-below"],
)
def test_an_order_mail_gmail_did_not_authenticate_is_quarantined(verdict):
    forged = verdict + GENUINE[len(GMAIL_VERDICT) :]
    [(outcome, event, reason)] = mail.message_events(
        mailbox="owner@shop.example",
        message={
            "id": "18c0ffee0000f00d",
            "internalDate": "1764158400000",
            "raw": gmail_b64(forged),
        },
        rules=RULES,
        now=AT,
    )
    assert outcome == "quarantined", reason
    assert "did not authenticate" in reason
    assert event["entity"]["reason"] == reason


def test_the_genuine_mail_with_gmails_verdict_is_an_order():
    mail = mime.parse(GENUINE)
    assert "partners.kiire.example" in mail.authenticated
    assert email.extract(email.match(RULES, mail), mail).complete


def test_an_absurd_quantity_is_quarantined_not_a_crash():
    """int() of thousands of digits raises; one such mail must not stall the mailbox."""
    huge = GENUINE.replace(b"1x Bifana", b"9" * 5000 + b"x Bifana")
    assert huge != GENUINE
    [(outcome, _, reason)] = mail.message_events(
        mailbox="owner@shop.example",
        message={"id": "18c0ffee0000beef", "internalDate": "1764158400000", "raw": gmail_b64(huge)},
        rules=RULES,
        now=AT,
    )
    assert outcome == "quarantined"
    assert "quantity is not a plausible number" in reason
