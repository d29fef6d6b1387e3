"""The order form's server-side validation and the event it builds (pure code)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from orderhub.sources import manual

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "event.v1.json").read_text())
METHODS = ("courier", "post", "pickup")
AT = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
TOKEN = "tok_" + "a" * 28


def posted(**overrides: str) -> dict[str, str]:
    values = {
        "customer_name": "Olena Koval",
        "phone": "(201) 555-0123",
        "email": "Olena@Example.com",
        "address": "1 Main St, Springfield",
        "delivery_method": "courier",
        "note": "Ring twice",
        "channel": "instagram",
        "lines-0-title": "IPod Nano - 8GB — Pink",
        "lines-0-sku": "IPOD2008PINK",
        "lines-0-variant_id": "808950810",
        "lines-0-product_id": "632910392",
        "lines-0-quantity": "2",
        "lines-0-price": "199.00",
        "lines-1-title": "Gift wrap",
        "lines-1-quantity": "1",
        "lines-1-price": "3,50",
        "lines-2-title": "",
        "lines-2-quantity": "1",
        "lines-2-price": "",
    }
    values.update(overrides)
    return values


def check(values: dict[str, str], *, link_mode: bool = False, country: str = "US"):
    return manual.validate(
        manual.read_form(values),
        link_mode=link_mode,
        default_country=country,
        currency="USD",
        delivery_methods=METHODS,
    )


def test_a_complete_form_becomes_an_order_with_e164_phone_and_server_total() -> None:
    order, errors = check(posted())
    assert errors == {}
    assert order is not None
    assert order.phone == "+12015550123"
    assert order.email == "olena@example.com"
    assert [line.title for line in order.lines] == ["IPod Nano - 8GB — Pink", "Gift wrap"]
    assert order.lines[1].unit_price == Decimal("3.50")  # a comma typed on a phone
    assert order.total == Decimal("401.50")


def test_the_default_country_decides_how_a_local_number_is_read() -> None:
    order, errors = check(posted(phone="020 7946 0018"), country="GB")
    assert errors == {}
    assert order is not None and order.phone == "+442079460018"
    _, errors = check(posted(phone="020 7946 0018"), country="US")
    assert "phone" in errors


@pytest.mark.parametrize("phone", ["12", "not a phone", "+1 555"])
def test_a_bad_phone_is_reported_on_the_phone_field_only(phone: str) -> None:
    order, errors = check(posted(phone=phone))
    assert order is None
    assert set(errors) == {"phone"}


def test_each_bad_line_value_is_reported_on_its_own_row_and_field() -> None:
    order, errors = check(
        posted(**{"lines-0-quantity": "0", "lines-1-price": "abc", "lines-1-title": ""})
    )
    assert order is None
    assert set(errors) == {"lines-0-quantity", "lines-1-price", "lines-1-title"}


def test_an_order_needs_an_item_a_name_and_an_address_unless_picked_up() -> None:
    values = {
        k: v for k, v in posted(customer_name="", address="").items() if not k.startswith("lines-")
    }
    _, errors = check(values)
    assert {"lines", "customer_name", "address"} <= set(errors)
    _, errors = check(posted(address="", delivery_method="pickup"))
    assert errors == {}


def test_link_mode_needs_only_items_but_still_checks_what_was_typed() -> None:
    bare = {k: v for k, v in posted().items() if k.startswith("lines-")}
    bare.update(channel="messenger", delivery_method="")
    order, errors = manual.validate(
        manual.read_form(bare),
        link_mode=True,
        default_country="US",
        currency="USD",
        delivery_methods=(*METHODS, ""),
    )
    assert errors == {} and order is not None and order.phone is None
    _, errors = check({**bare, "phone": "12"}, link_mode=True)
    assert "phone" in errors


def test_unknown_channel_or_delivery_method_is_refused() -> None:
    _, errors = check(posted(channel="tiktok", delivery_method="drone"))
    assert set(errors) == {"channel", "delivery_method"}


def test_typed_text_is_kept_verbatim_for_the_page_to_escape() -> None:
    form = manual.read_form(posted(customer_name="<b>Olena</b> & co"))
    assert form.get("customer_name") == "<b>Olena</b> & co"


def test_the_event_is_canonical_manual_and_attributed() -> None:
    order, _ = check(posted())
    assert order is not None
    event = manual.order_event(
        order, manager="anna", form_token=TOKEN, shop="s.myshopify.com", at=AT
    )
    jsonschema.validate(event, SCHEMA)
    entity = event["entity"]
    assert event["event_type"] == "order.created" and event["source"] == "manual"
    assert entity["manager"] == "anna"
    assert entity["attribution"]["channel"] == "instagram"
    assert entity["customer"]["phone"] == "+12015550123"
    assert entity["total"] == {"amount": "401.50", "currency": "USD"}
    assert entity["line_items"][0]["variant_id"] == "808950810"


def test_the_same_form_token_names_the_same_order_and_event_whenever_sent() -> None:
    order, _ = check(posted())
    assert order is not None
    first = manual.order_event(order, manager="anna", form_token=TOKEN, shop="s", at=AT)
    later = manual.order_event(
        order, manager="anna", form_token=TOKEN, shop="s", at=datetime(2026, 11, 27, tzinfo=UTC)
    )
    other = manual.order_event(order, manager="anna", form_token=TOKEN + "b", shop="s", at=AT)
    assert first["event_id"] == later["event_id"]
    assert first["entity_id"] == later["entity_id"]
    assert other["entity_id"] != first["entity_id"]
    assert first["entity_id"].startswith("M-") and len(first["entity_id"]) == 12


@pytest.mark.parametrize(
    "token", ["", "short", "a" * 65, "has space in it......", "../../etc/passwd", TOKEN]
)
def test_only_tokens_of_our_own_shape_are_accepted(token: str) -> None:
    assert not manual.valid_token(token, AT, timedelta(days=2))


def test_a_form_token_is_accepted_until_it_is_too_old() -> None:
    token = manual.new_form_token(AT)
    assert manual.valid_token(token, AT + timedelta(days=1), timedelta(days=2))
    assert not manual.valid_token(token, AT + timedelta(days=3), timedelta(days=2))
    assert not manual.valid_token(token, AT - timedelta(hours=1), timedelta(days=2))
    assert manual.new_form_token(AT) != token
