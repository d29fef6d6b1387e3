"""One phone parser (orderhub.phones) for every source and the CRM app's search: the same
typed number is the same customer wherever it came in."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from orderhub import mime, phones
from orderhub.order_form import queries
from orderhub.sources import email, manual, manychat
from tests.conftest import FIXTURES, ROOT, load_json

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LONDON = "0044 20 7946 0958"  # a UK number with the 00 prefix most of the world dials


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("+351 912 345 678", "US", "+351912345678"),  # international
        ("912 345 678", "PT", "+351912345678"),  # national, in the default region
        ("00351912345678", "US", "+351912345678"),  # 00, in a region that dials 011
        ("00351912345678", "PT", "+351912345678"),
        (LONDON, "US", "+442079460958"),
        (LONDON, "UA", "+442079460958"),
        (LONDON, None, "+442079460958"),  # no default region at all
        ("Tel: 0044 20 7946 0958", "US", "+442079460958"),  # as a mail may write it
        ("011 44 20 7946 0958", "US", "+442079460958"),  # the region's own prefix
        ("0011 44 20 7946 0958", "AU", "+442079460958"),  # ... which is not 00 everywhere
        ("(201) 555-0123", "us", "+12015550123"),
    ],
)
def test_every_form_becomes_one_e164_number(typed: str, region: str | None, e164: str) -> None:
    assert phones.to_e164(typed, region) == e164


def test_not_a_phone_and_not_a_valid_phone_are_told_apart() -> None:
    with pytest.raises(phones.NotAPhone):
        phones.to_e164("not a phone", "US")
    with pytest.raises(phones.NotAPhone):
        phones.to_e164("912 345 678", None)  # national, and no region to read it in
    with pytest.raises(phones.InvalidPhone) as invalid:
        phones.to_e164("12345", "US")
    assert not isinstance(invalid.value, phones.NotAPhone)
    assert str(invalid.value) == "not a valid phone number"


def test_the_chat_bot_keeps_what_it_cannot_read_as_typed() -> None:
    assert phones.e164_or_typed(LONDON, "US") == ("+442079460958", True)
    assert phones.e164_or_typed(" 12-34 ", "US") == (" 12-34 ", False)
    assert phones.e164_or_typed(None, "US") == (None, False)


def test_an_example_number_for_the_forms_hint() -> None:
    assert phones.example("PT").startswith("+351 ")
    assert phones.example("XX") == "+1 201 555 0123"


# ---------------------------------------------------------------------- every source
def test_the_form_reads_00_numbers_in_a_us_shop() -> None:
    values = {
        "customer_name": "Olena Koval",
        "phone": LONDON,
        "delivery_method": "pickup",
        "channel": "phone",
        "lines-0-title": "Gift wrap",
        "lines-0-quantity": "1",
        "lines-0-price": "3.50",
    }
    order, errors = manual.validate(
        manual.read_form(values),
        link_mode=False,
        default_country="US",
        currency="USD",
        delivery_methods=("pickup",),
    )
    assert errors == {}
    assert order is not None and order.phone == "+442079460958"


def test_the_form_tells_the_manager_what_is_wrong_with_a_phone() -> None:
    with pytest.raises(ValueError, match=r"^Enter a phone number, e\.g\. \+1 201"):
        manual.parse_phone("call me", "US")
    with pytest.raises(ValueError, match="add the country code"):
        manual.parse_phone("12345", "US")


@pytest.mark.parametrize("region", ["US", None])
def test_the_email_rules_read_00_numbers_whatever_their_region(region: str | None) -> None:
    data = yaml.safe_load((email.RULES_DIR / "kiire.yaml").read_text())
    data["defaults"]["phone_region"] = region
    rules = email.load_rules(data, "kiire-elsewhere.yaml")
    raw = (FIXTURES / "email" / "kiire_two_items_fee_discount.eml").read_bytes()
    mail = mime.parse(raw.replace(b"912 345 678", LONDON.encode()))

    extraction = email.extract(rules, mail)

    assert extraction.values["phone"] == "+442079460958", extraction.problems


def test_the_chat_bot_stores_00_numbers_in_e164() -> None:
    body = json.dumps({**load_json("manychat/full_contact_data.json"), "phone": LONDON}).encode()
    raw = manychat.raw_record(body, shop="s.myshopify.com", route="contacts", received_at=AT)
    event = manychat.normalise(
        body, shop="s.myshopify.com", raw=raw, received_at=AT, default_country="US"
    )
    contact: dict[str, Any] = event["entity"]
    assert (contact["phone"], contact["phone_valid"], contact["flags"]) == (
        "+442079460958",
        True,
        [],
    )


# ---------------------------------------------------------------------- search
@pytest.mark.parametrize(
    ("typed", "term"),
    [
        ("+351 912 345 678", phones.SearchTerm(digits="351912345678")),
        ("00351912345678", phones.SearchTerm(digits="351912345678")),
        (LONDON, phones.SearchTerm(digits="442079460958")),
        ("(201) 555-0123", phones.SearchTerm(digits="12015550123")),
        # Not a valid US number: also every stored number that ends in the digits typed.
        ("912 345 678", phones.SearchTerm(suffix="912345678")),
        ("345678", phones.SearchTerm(suffix="345678")),
        ("020 7946 0958", phones.SearchTerm(suffix="2079460958")),  # the trunk 0 dropped
    ],
)
def test_what_a_typed_phone_searches_for(typed: str, term: phones.SearchTerm) -> None:
    assert phones.search_term(typed, "US") == term


@pytest.mark.parametrize("typed", ["12345", "#1001", "Olena", "olena@example.com", "000012345"])
def test_fewer_than_six_digits_names_and_mails_are_not_phones(typed: str) -> None:
    assert phones.search_term(typed, "US") is None


def test_the_apps_search_reads_phones_as_the_sources_do() -> None:
    assert queries.phone_digits(LONDON, "US") == "442079460958"
    assert queries.who_from_search("912 345 678", "US") == queries.Who(suffix="912345678")


def test_the_orders_list_searches_the_end_of_numbers_but_a_short_number_is_an_order() -> None:
    seen: list[dict[str, Any]] = []

    def run(sql: str, params: Any) -> list[dict[str, Any]]:
        seen.append({name: value for name, _type, value in params})
        return []

    window = queries.Window(now=AT)
    for typed in ("912 345 678", "345678"):
        queries.list_orders(run, queries.OrderFilter(q=typed), window, default_country="US")
    assert [(s["digits"], s["suffix"]) for s in seen] == [("", "912345678"), ("", "")]


def test_phonenumbers_is_imported_in_one_module() -> None:
    importing = re.compile(r"^\s*(?:import|from)\s+phonenumbers\b", re.MULTILINE)
    found = {
        str(path.relative_to(ROOT))
        for folder in ("functions", "scripts", "devstack")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in ("", ".py")
        and importing.search(path.read_text(errors="replace"))
    }
    assert found == {"functions/orderhub/phones.py"}
