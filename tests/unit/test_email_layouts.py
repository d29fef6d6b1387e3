"""The rules format, generalised from real mail (issue 25, item 3).

``amazon_uk_two_orders_2021.eml`` and ``amazon_uk_two_orders_2018.eml`` are real
Amazon.co.uk confirmations (tests/fixtures/SOURCES.md), each a purchase "divided into 2
orders": each order is a run of sibling table rows with no element around it, so only
``orders.regex`` over the text the rules see can cut it. The two are different templates
of one service: one rules file with two ``layouts`` reads both.
"""

from pathlib import Path

import jsonschema
import pytest
import yaml

from orderhub.errors import ConfigError
from orderhub.sources import email, mail
from tests.conftest import FIXTURES
from tests.unit.test_email_rules import AT, SCHEMA, gmail_b64

RULES_FILE = FIXTURES / "email" / "rules" / "amazon_uk.yaml"
MAIL_2021 = (FIXTURES / "email" / "amazon_uk_two_orders_2021.eml").read_bytes()
MAIL_2018 = (FIXTURES / "email" / "amazon_uk_two_orders_2018.eml").read_bytes()


def amazon_rules(edit=None) -> tuple[email.Rules, ...]:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    if edit:
        edit(data)
    return (email.load_rules(data, str(RULES_FILE)),)


def events(raw: bytes, rules=None):
    return mail.message_events(
        mailbox="owner@shop.example",
        message={"id": "17cb1a2b3c4d5e6f", "internalDate": "1635070500000", "raw": gmail_b64(raw)},
        rules=rules or amazon_rules(),
        now=AT,
    )


def summary(event) -> tuple:
    order = event["entity"]
    return (
        order["order_id"],
        order["created_at"][:19],
        order["total"]["amount"],
        order["currency"],
        order["customer"]["name"],
        [(li["title"], li["quantity"], li["unit_price"]["amount"]) for li in order["line_items"]],
    )


def test_the_real_two_order_amazon_mail_is_read_as_two_complete_orders_with_orders_regex():
    triples = events(MAIL_2021)

    assert [(outcome, reason) for outcome, _, reason in triples] == [
        ("order", None),
        ("order", None),
    ]
    assert [summary(event) for _, event, _ in triples] == [
        (
            "206-6313629-4525134",
            "2021-10-23T23:00:00",  # midnight in London (BST), in UTC
            "3.99",
            "GBP",
            "Jakub",
            [
                (
                    'Chrome 1/2" BSP Thread Female Blanking End Cap Radiator Chrome Plug '
                    "Water Pipe",
                    1,
                    "3.99",
                )
            ],
        ),
        (
            "206-9030885-7684312",
            "2021-10-23T23:00:00",  # midnight in London (BST), in UTC
            "7.29",
            "GBP",
            "Jakub",
            [
                (
                    'Metal Adaptor Reduction Water Faucet Tap 24mm Male to 1/2" BSP Male Joiner',
                    1,
                    "7.29",
                )
            ],
        ),
    ]
    for _, event, _ in triples:
        jsonschema.validate(event, SCHEMA)
    assert triples[0][1]["event_id"] != triples[1][1]["event_id"]
    assert [e["event_id"] for _, e, _ in events(MAIL_2021)] == [
        e["event_id"] for _, e, _ in triples
    ]  # the same mail read again: the same two events


def test_the_older_template_of_the_same_service_is_read_by_its_own_layout():
    [first, second] = email.extract_orders(amazon_rules()[0], _parse(MAIL_2018))

    assert (first.rules.layout, first.complete, second.complete) == (
        "2018 (Order Details, with VAT)",
        True,
        True,
    )
    assert [summary(e) for _, e, _ in events(MAIL_2018)] == [
        (
            "202-1280919-3000348",
            "2018-12-11T00:00:00",
            "69.95",
            "GBP",
            "Jakub Jamro",
            [("Sylvanian Families Beechwood Hall Gift Set", 1, "69.95")],
        ),
        (
            "202-9246099-7897914",
            "2018-12-11T00:00:00",
            "15.99",
            "GBP",
            "Jakub Jamro",
            [("Sylvanian Families Chocolate Rabbit Family", 1, "15.99")],
        ),
    ]


def test_a_layout_whose_field_is_gone_quarantines_the_mail_saying_the_layout_changed():
    changed = MAIL_2021.replace(b"Order Total:", b"Grand total:")

    [(outcome, event, reason)] = events(changed)

    assert outcome == "quarantined"
    assert "the layout of amazon_uk changed (field total no longer found)" in reason
    assert event["entity"]["reason"] == reason


def test_a_mail_that_no_layout_fits_is_a_layout_change():
    changed = MAIL_2021.replace(b"Order summary", b"Your order")

    [(outcome, _, reason)] = events(changed)

    assert outcome == "quarantined"
    assert reason == (
        "the layout of amazon_uk changed (no layout fits: 2021 (Order summary), "
        "2018 (Order Details, with VAT))"
    )


def test_one_order_lacking_a_field_the_other_has_is_no_layout_change():
    # Only the second order's total is gone: the layout still reads the first.
    head, tail = MAIL_2021.split(b"Order Total:", 1)
    triples = events(head + b"Order Total:" + tail.replace(b"Order Total:", b"Total due:"))

    assert [outcome for outcome, _, _ in triples] == ["order", "quarantined"]
    assert "layout" not in triples[1][2]


def test_a_layout_with_an_unknown_key_or_a_bad_match_is_refused_naming_it():
    with pytest.raises(ConfigError, match=r"layouts\[0\] has unknown keys \['service'\]"):
        amazon_rules(lambda d: d["layouts"][0].update(service="x"))
    with pytest.raises(ConfigError, match=r"layouts\[1\]\.match\.text is not a valid"):
        amazon_rules(lambda d: d["layouts"][1]["match"].update(text="(?=lookahead)"))


def _parse(raw: bytes):
    from orderhub import mime

    return mime.parse(raw)


def test_the_shipped_rules_have_no_layouts_and_read_as_before():
    assert all(not r.layouts for r in email.shipped_rules(Path(email.RULES_DIR)))


@pytest.mark.parametrize(
    ("text", "amount"),
    [("CHF 12.50", "12.50"), ("12,50 CHF", "12.50"), ("CHF 1'234.50", "1234.50")],
)
def test_swiss_francs_are_read_with_their_currency(text, amount):
    assert email.parse_money(text, None) == {"amount": amount, "currency": "CHF"}
