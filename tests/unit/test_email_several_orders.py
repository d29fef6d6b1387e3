"""A mail that carries several orders (issue 11, item 8): several orders or quarantined,
never one order holding another order's total.

``kiire_two_orders_nested_tables.eml`` is laid out as real marketplace mail is: tables
nested in layout tables, each order in its own ``table.order``, and each basket's item
rows inside a layout row of ``table.basket``.
"""

from pathlib import Path

import jsonschema
import yaml

from orderhub.sources import email, mail
from tests.conftest import FIXTURES
from tests.unit.test_email_rules import AT, SCHEMA, gmail_b64

RULES_DIR = Path(email.RULES_DIR)
TWO = (FIXTURES / "email" / "kiire_two_orders_nested_tables.eml").read_bytes()


def events(raw: bytes, rules=None, message_id: str = "18c0ffee0000a002"):
    return mail.message_events(
        mailbox="owner@shop.example",
        message={"id": message_id, "internalDate": "1764186150000", "raw": gmail_b64(raw)},
        rules=rules or email.shipped_rules(),
        now=AT,
    )


def kiire_rules_without_orders_selector() -> tuple[email.Rules, ...]:
    data = yaml.safe_load((RULES_DIR / "kiire.yaml").read_text(encoding="utf-8"))
    del data["orders"]
    return (email.load_rules(data, "kiire-without-orders.yaml"),)


def summary(event) -> tuple:
    order = event["entity"]
    return (
        order["order_id"],
        order["total"]["amount"],
        order["customer"]["name"],
        [(li["title"], li["quantity"], li["unit_price"]["amount"]) for li in order["line_items"]],
    )


def test_each_order_of_a_two_order_mail_is_its_own_order_with_its_own_total():
    triples = events(TWO)

    assert [(outcome, reason) for outcome, _, reason in triples] == [
        ("order", None),
        ("order", None),
    ]
    assert [summary(event) for _, event, _ in triples] == [
        (
            "K-8A1B2",
            "7.70",
            "Rita Lopes",
            [("Bifana no pão", 1, "3.80"), ("Pastel de nata", 2, "1.20")],
        ),
        ("K-8A1B3", "9.00", "Rui Costa", [("Francesinha especial", 1, "8.50")]),
    ]
    first, second = (event for _, event, _ in triples)
    for event in (first, second):
        jsonschema.validate(event, SCHEMA)
    assert first["event_id"] != second["event_id"]
    assert first["entity"]["created_at"] == "2026-11-26T19:41:00.000Z"


def test_the_orders_of_a_mail_keep_their_ids_when_the_mail_is_read_again():
    once = [event["event_id"] for _, event, _ in events(TWO, message_id="a1")]
    again = [event["event_id"] for _, event, _ in events(TWO, message_id="b2")]
    assert once == again


def test_without_an_orders_selector_a_two_order_mail_is_quarantined_not_merged():
    [(outcome, event, reason)] = events(TWO, kiire_rules_without_orders_selector())

    assert outcome == "quarantined"
    assert "the mail carries several orders (K-8A1B2, K-8A1B3)" in reason
    assert event["entity"]["reason"] == reason


def with_html(change) -> bytes:
    """The two-order mail with its HTML part changed by ``change`` (re-encoded as sent)."""
    import email as stdlib_email
    from email.policy import SMTP

    message = stdlib_email.message_from_bytes(TWO, policy=SMTP)
    part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    html = part.get_content()
    changed = change(html)
    assert changed != html
    part.set_content(changed, subtype="html", cte="quoted-printable")
    return message.as_bytes()


def second_order(html: str) -> tuple[int, int]:
    """Where the second order's table starts and ends in the HTML."""
    start = html.rindex('<table role="presentation" width="100%" class="order"')
    return start, html.index("</td></tr>\n</table>", html.index("Total", start)) + 19


def test_an_order_block_that_cannot_be_read_is_quarantined_and_the_other_is_published():
    broken = with_html(lambda html: html.replace("9,00 &euro;", "a consultar"))

    triples = events(broken)

    assert [(outcome, event["entity"].get("order_id")) for outcome, event, _ in triples] == [
        ("order", "K-8A1B2"),
        ("quarantined", None),
    ]
    assert triples[0][1]["entity"]["total"]["amount"] == "7.70"
    assert triples[1][2].startswith("order 2 of 2: total: no number where an amount should be")


def test_a_field_missing_from_its_block_is_never_taken_from_another_order():
    def drop_second_total(html: str) -> str:
        start = html.index("<tr><td><strong>Total</strong>", html.index("K-8A1B3"))
        return html[:start] + html[html.index("</tr>", start) + 5 :]

    triples = events(with_html(drop_second_total))

    assert [outcome for outcome, _, _ in triples] == ["order", "quarantined"]
    assert triples[1][2].startswith("order 2 of 2: missing total")


def test_item_rows_wrapping_other_rows_are_layout_not_items():
    """``table.basket tr`` also matches the layout row around the real item rows: the
    mail with only its first order, read without the orders selector."""

    def only_first_order(html: str) -> str:
        start, end = second_order(html)
        return html[:start] + html[end:]

    [(outcome, event, reason)] = events(
        with_html(only_first_order), kiire_rules_without_orders_selector()
    )

    assert (outcome, reason) == ("order", None)
    assert summary(event)[3] == [("Bifana no pão", 1, "3.80"), ("Pastel de nata", 2, "1.20")]


def test_a_text_only_mail_is_split_into_orders_where_each_begins(tmp_path):
    (tmp_path / "pronto.yaml").write_text(
        """
service: pronto
match: {from: '@pronto\\.example$', subject: '^Orders', domains: [pronto.example]}
defaults: {currency: PLN, phone_region: PL}
orders: {regex: '^Order P-'}
fields:
  order_number: {regex: '^Order (P-\\d+)'}
  customer_name: {regex: '^Customer: (.+)$', scope: mail}
  total: {regex: '^Sum: (.+)$'}
line_items:
  regex: '^(?P<quantity>\\d+) x (?P<name>.+) @ (?P<price>.+)$'
""",
        encoding="utf-8",
    )
    raw = (
        b"Authentication-Results: mx.google.com; dmarc=pass header.from=pronto.example\r\n"
        b"From: <orders@pronto.example>\r\nSubject: Orders P-1, P-2\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Customer: Jan Kowalski\r\n\r\n"
        b"Order P-1\r\n2 x Pierogi @ 18,50 zl\r\nSum: 37,00 zl\r\n\r\n"
        b"Order P-2\r\n1 x Barszcz @ 12,00 zl\r\nSum: 12,00 zl\r\n"
    )

    triples = events(raw, email.shipped_rules(tmp_path))

    assert [summary(event)[:3] for _, event, _ in triples] == [
        ("P-1", "37.00", "Jan Kowalski"),
        ("P-2", "12.00", "Jan Kowalski"),
    ]
