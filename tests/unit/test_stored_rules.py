"""Rules as data (issue 25): stored rules over the shipped files, checked with the line of
each problem, reloaded by gmail_ingest at most ``ttl`` seconds late; and the builder's
proposals read a real mail whose service has no shipped rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderhub import mime
from orderhub.errors import TransientError
from orderhub.order_form import rules_builder
from orderhub.sources import email, rules_try, stored_rules
from tests.conftest import FIXTURES, ROOT

KIIRE = (ROOT / "functions/orderhub/sources/email_rules/kiire.yaml").read_text()
BOLT = FIXTURES / "email" / "bolt_food_receipt_chickinho.eml"
BOLT_2 = FIXTURES / "email" / "bolt_food_receipt_sushicome.eml"


def mail(path: Path) -> mime.Mail:
    return mime.parse(path.read_bytes())


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (KIIRE.replace("  total: {regex: '^Total", "  total: {regex: '(?=x)^Total"), 47, "total"),
        (KIIRE.replace("price_is: line_total", "price_is: nope"), 58, "price_is"),
        (KIIRE.replace("  phone: {regex", "  phone_no: {regex"), 30, "unknown fields"),
        (KIIRE.replace("match:\n", "match:\n  x: [\n"), 8, "not valid YAML"),
        ("just words", 1, "YAML mapping"),
    ],
)
def test_a_wrong_rules_text_is_refused_with_the_line_of_the_problem(text, line, words):
    with pytest.raises(stored_rules.RulesError) as caught:
        stored_rules.parse_yaml(text)
    assert caught.value.line == line, str(caught.value)
    assert words in str(caught.value) and str(caught.value).startswith(f"line {line}: ")


def stored(service: str, text: str, version: int = 1) -> stored_rules.Stored:
    return stored_rules.Stored(service, text, version, "olga", None)


def test_a_stored_service_replaces_the_shipped_file_of_that_name_and_others_are_added():
    changed = KIIRE.replace("title: Kiire Food", "title: Kiire (owner's copy)")
    bolt = KIIRE.replace("service: kiire", "service: bolt")
    cache = stored_rules.CachedRules(
        lambda: {"kiire": stored("kiire", changed), "bolt": stored("bolt", bolt)}
    )
    rules = cache()
    services = [r.service for r in rules]
    assert services == ["bolt", "kiire", "smakuy"]
    assert sorted(services) == sorted(set(services))
    assert rules[1].path == "stored:kiire"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_saved_change_is_used_within_the_ttl_and_not_reloaded_before():
    clock, store = Clock(), {}
    loads = []

    def load():
        loads.append(clock.now)
        return dict(store)

    cache = stored_rules.CachedRules(load, ttl=60, clock=clock)
    assert [r.service for r in cache()] == ["kiire", "smakuy"]
    store["bolt"] = stored("bolt", KIIRE.replace("service: kiire", "service: bolt"))
    clock.now = 59.0
    assert "bolt" not in [r.service for r in cache()]  # cached: no read per mail
    clock.now = 60.0
    assert "bolt" in [r.service for r in cache()]
    assert loads == [0.0, 60.0]


def test_the_ttl_is_never_over_a_minute():
    assert stored_rules.CachedRules(dict, ttl=3600).ttl == 60


def test_a_store_away_keeps_the_last_rules_and_a_stored_text_that_breaks_keeps_the_shipped():
    clock = Clock()
    answers: list[object] = [{"kiire": stored("kiire", "service: kiire\n")}, TransientError("away")]

    def load():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = stored_rules.CachedRules(load, ttl=1, clock=clock)
    first = cache()
    assert [r.path for r in first if r.service == "kiire"] != ["stored:kiire"]  # shipped
    clock.now = 5
    assert cache() == first
    with pytest.raises(TransientError):
        stored_rules.CachedRules(lambda: (_ for _ in ()).throw(TransientError("x")))()


def tapped(lines: list[str], starts: str) -> int:
    return next(n for n, text in enumerate(lines, start=1) if text.startswith(starts))


def test_the_builder_reads_a_real_bolt_food_receipt_from_three_taps():
    """A real Bolt Food receipt (no shipped rules for Bolt): tap the order's reference
    (the receipt's date line: Bolt prints no order number), the total and the customer."""
    sample = mail(BOLT)
    lines = [line.text for line in rules_builder.mail_lines(sample)]
    picks = {
        "order_number": rules_builder.propose(lines, 1, "order_number"),
        "total": rules_builder.propose(lines, tapped(lines, "*9.73"), "total"),
        "customer_name": rules_builder.propose(lines, tapped(lines, "Valter"), "customer_name"),
    }
    text = rules_builder.draft(
        service="bolt", mail=sample, picks=picks, currency="EUR", region="PT"
    )
    rules = stored_rules.parse_yaml(text)
    found = rules_try.read(rules, sample)
    assert found.complete, found
    assert found.orders[0].fields == {
        "order_number": "19-06-2021",
        "customer_name": "Valter",
        "currency": "EUR",
        "total": "9.73 EUR",
    }
    # The same rules on the sender's other receipt: its own number and total.
    other = rules_try.read(rules, mail(BOLT_2))
    assert other.complete
    assert other.orders[0].fields["order_number"] == "27-04-2021"
    assert other.orders[0].fields["total"] == "15.80 EUR"
    extraction = email.extract(rules, mail(BOLT_2))
    assert extraction.values["total"] == {"amount": "15.80", "currency": "EUR"}


def test_money_phones_dates_and_order_numbers_are_suggested_first():
    lines = rules_builder.mail_lines(mail(FIXTURES / "email" / "kiire_two_items_fee_discount.eml"))
    totals = [line.text for line in rules_builder.suggested(lines, "total")]
    assert "9,73 €" in totals
    phones = [line.text for line in rules_builder.suggested(lines, "phone")]
    assert "912 345 678" in phones
    assert all("money" in line.kinds for line in rules_builder.suggested(lines, "total"))


def test_line_items_are_proposed_from_the_repeated_item_block_and_checked_against_the_total():
    sample = mail(FIXTURES / "email" / "kiire_two_items_fee_discount.eml")
    lines = [line.text for line in rules_builder.mail_lines(sample)]
    items = rules_builder.propose_items(lines, tapped(lines, "Francesinha"))
    assert items == {"regex": "^(?P<quantity>[0-9]+) ?x\\n(?P<name>.+)\\n(?P<price>.+)$"}
    picks = {
        "order_number": rules_builder.propose(lines, tapped(lines, "#K-"), "order_number"),
        "total": rules_builder.propose(lines, tapped(lines, "9,73"), "total"),
        "subtotal": rules_builder.propose(lines, tapped(lines, "10,90"), "subtotal"),
        "delivery_fee": rules_builder.propose(lines, tapped(lines, "1,49"), "delivery_fee"),
        "discount": rules_builder.propose(lines, tapped(lines, "-2,66"), "discount"),
    }
    text = rules_builder.best_draft(
        service="kiire2", mail=sample, picks=picks, items=items, currency="EUR", region="PT"
    )
    rules = stored_rules.parse_yaml(text)
    assert rules.check_total and "line_items" in rules.required
    assert rules.line_items["price_is"] == "line_total"  # "2x ... 2,40 €" is 2 x 1,20
    found = rules_try.read(rules, sample)
    assert found.complete, found
    assert found.orders[0].line_items == [
        (1, "Francesinha especial", "8.50 EUR"),
        (2, "Sumo de laranja natural", "1.20 EUR"),
    ]


def test_items_on_one_line_each_and_in_a_name_quantity_price_block():
    plain = [
        line.text
        for line in rules_builder.mail_lines(mail(FIXTURES / "email" / "kiire_plain_text.eml"))
    ]
    one_line = rules_builder.propose_items(plain, tapped(plain, "1x Bifana"))
    assert one_line is not None and one_line["regex"].startswith(
        "^(?P<quantity>[0-9]+) ?x (?P<name>.+?) "
    )
    smakuy = [
        line.text
        for line in rules_builder.mail_lines(
            mail(FIXTURES / "email" / "smakuy_two_items_fee_discount.eml")
        )
    ]
    block = rules_builder.propose_items(smakuy, tapped(smakuy, "Набір ролів"))
    assert block == {"regex": "^(?P<name>.+)\\n(?P<quantity>[0-9]+) ?шт\\.\\n(?P<price>.+)$"}
