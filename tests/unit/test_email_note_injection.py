"""Issue 21: a customer's note cannot rewrite a marketplace order's money.

A genuine, signed marketplace mail carries text the customer wrote (note, name, address).
Whatever is in it, the order is read with the marketplace's own amounts, or quarantined;
never with amounts the customer typed.
"""

import dataclasses
import html
import re
from pathlib import Path

import pytest

from orderhub import mime
from orderhub.sources import email, mail
from tests.conftest import FIXTURES
from tests.unit.test_email_rules import AT, message

MAILS = FIXTURES / "email"
RULES = email.shipped_rules()


def outcome(name: str) -> tuple[str, dict, str | None]:
    [(kind, event, reason)] = mail.message_events(
        mailbox="owner@shop.example", message=message(name), rules=RULES, now=AT
    )
    return kind, event, reason


@pytest.mark.parametrize(
    ("name", "total"),
    [("kiire_note_injection.eml", "9.73"), ("kiire_note_injection_plain.eml", "5.00")],
)
def test_the_note_injection_mail_is_read_with_its_real_total(name, total):
    # The note reads "Sem gelo\nSubtotal: 0,01 EUR\n...\nTotal: 0,01 EUR": the first match
    # used to win, and the order was stored, announced and sent to Shopify PAID at 0.01.
    kind, event, reason = outcome(name)

    assert (kind, reason) == ("order", None)
    assert event["entity"]["total"]["amount"] == total
    assert event["entity"]["subtotal"]["amount"] != "0.01"
    assert "Sem gelo" in event["entity"]["note"]


OLD_KIIRE = """
service: kiire
match: {from: '^no-reply@partners\\.kiire\\.example$', subject: '^(Novo pedido|New order) #K-',
        domains: [partners.kiire.example]}
defaults: {currency: EUR, phone_region: PT}
fields:
  order_number: {regex: '^(?:Pedido\\n#|New order #)(K-[A-Z0-9]+)'}
  customer_name: {regex: '^(?:Cliente|Customer):?\\n?\\s*(.+)$'}
  phone: {regex: '^(?:Telefone|Phone):?\\n?\\s*(.+)$'}
  note: {regex: '^Nota do cliente\\n(.+)$'}
  subtotal: {regex: '^Subtotal:?\\n?\\s*(.+)$'}
  delivery_fee: {regex: '^(?:Taxa de entrega|Delivery fee):?\\n?\\s*(.+)$'}
  discount: {regex: '^(?:Desconto da campanha|Discount):?\\n?\\s*(.+)$'}
  total: {regex: '^Total:?\\n?\\s*(.+)$'}
line_items:
  css: 'table.basket tr'
  quantity: {css: 'td:nth-of-type(1)'}
  name: {css: 'td:nth-of-type(2)'}
  price: {css: 'td:nth-of-type(3)'}
  price_is: line_total
  regex: '^(?P<quantity>\\d+)x (?P<name>.+?) (?P<price>€\\s?[\\d.,]+|[\\d.,]+ ?(?:€|EUR))$'
"""


@pytest.mark.parametrize("name", ["kiire_note_injection.eml", "kiire_note_injection_plain.eml"])
def test_unfenced_rules_quarantine_a_total_that_two_readings_disagree_on(name):
    # A rules file written before fences existed (regex over the whole text): the engine
    # itself sees two different totals and quarantines, whatever the file says.
    import yaml

    rules = email.load_rules(yaml.safe_load(OLD_KIIRE))
    parsed = mime.parse((MAILS / name).read_bytes())

    result = email.extract(rules, parsed)

    assert not result.complete
    assert any(p.startswith("total: the mail shows different amounts") for p in result.problems)


def _forged_copy(text: str) -> str:
    """The mail's own text with every amount made 0,01: the labels, layout and order number
    of a genuine mail, the money the attacker wants."""
    return re.sub(r"[0-9]+[.,][0-9]{2}\b", "0,01", text)


def _samples() -> list[tuple[str, str]]:
    out = []
    for path in sorted(MAILS.glob("*.eml")):
        if "injection" in path.name:  # already attacked
            continue
        parsed = mime.parse(path.read_bytes())
        rules = email.match(RULES, parsed)
        if rules is None:
            continue
        for field in ("note", "address", "city", "customer_name"):
            out.append((path.name, field))
    return out


@pytest.mark.parametrize(("name", "field"), _samples())
def test_no_customer_written_field_of_any_sample_can_move_its_money(name, field):
    """The whole class, for every shipped rules file and sample: a forged copy of the mail,
    every amount 0,01, written into any customer-written field, is read with the genuine
    amounts or quarantined."""
    parsed = mime.parse((MAILS / name).read_bytes())
    rules = email.match(RULES, parsed)
    before = email.extract_orders(rules, parsed)
    genuine = [x for x in before if x.complete]
    value = next((x.values.get(field) for x in genuine if x.values.get(field)), None)
    if value is None:
        pytest.skip(f"{name} shows no {field}")
    forged = _forged_copy(email.document_text(parsed))
    body_html = parsed.html
    if body_html is not None:
        assert value in body_html, "the sample's HTML holds the value as read"
        injected = html.escape(value) + "<br>" + "<br>".join(map(html.escape, forged.split("\n")))
        body_html = body_html.replace(value, injected, 1)
    body_text = parsed.text
    if body_html is None:
        assert body_text is not None and value in body_text
        body_text = body_text.replace(value, value + "\n" + forged, 1)
    attacked = dataclasses.replace(parsed, html=body_html, text=body_text)

    after = email.extract_orders(rules, attacked)

    totals = {x.values["order_number"]: x.values["total"] for x in genuine}
    for result in after:
        if result.complete:
            assert result.values["total"] == totals[result.values["order_number"]]
            for money in ("subtotal", "delivery_fee", "discount"):
                assert result.values.get(money, {}).get("amount") != "0.01"


def test_the_documented_example_is_the_shipped_sample():
    doc = (Path(__file__).parents[2] / "docs" / "email-rules.md").read_text()
    assert "Total: 0,01 EUR" in doc and "kiire_note_injection.eml" in doc
