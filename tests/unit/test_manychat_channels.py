"""ManyChat's channels (issue 25, item 5): real bodies of a 2026 WhatsApp contact and a 2022
Messenger contact (tests/fixtures/SOURCES.md), and the channel identifiers of each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from orderhub.event import Event
from orderhub.sources import manychat
from tests.conftest import ROOT, load_json

SHOP = "orderhub-demo.myshopify.com"
AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SCHEMA = json.loads((ROOT / "schemas" / "event.v1.json").read_text())


def normalise(payload: Any, at: datetime = AT, country: str = "PT") -> Event:
    body = json.dumps(payload).encode()
    raw = manychat.raw_record(body, shop=SHOP, route="contacts", received_at=at)
    return manychat.normalise(body, shop=SHOP, raw=raw, received_at=at, default_country=country)


def whatsapp() -> dict[str, Any]:
    return load_json("manychat/whatsapp_full_contact_data_2026.json")  # type: ignore[no-any-return]


def messenger() -> dict[str, Any]:
    return load_json("manychat/messenger_full_contact_data_2022.json")  # type: ignore[no-any-return]


def test_a_whatsapp_contact_keeps_its_phone_in_e164_verified_for_linking():
    event = normalise(whatsapp())
    contact = event["entity"]

    assert (contact["channel"], contact["phone"], contact["phone_valid"]) == (
        "whatsapp",
        "+50688217229",
        True,
    )
    assert contact["phone_verified"] is True  # WhatsApp's own number: links to a customer
    assert contact["whatsapp_phone"] == "+50688217229"
    assert contact["flags"] == []
    jsonschema.validate(event, SCHEMA)


def test_a_whatsapp_number_without_its_plus_is_still_international():
    body = {**whatsapp(), "whatsapp_phone": "50688217229"}
    assert normalise(body, country="US")["entity"]["phone"] == "+50688217229"


def test_a_typed_custom_field_phone_never_outranks_or_borrows_whatsapps_verification():
    body = {**whatsapp(), "phone": "+351912345678", "optin_phone": False}
    contact = normalise(body)["entity"]
    assert contact["phone"] == "+351912345678"
    assert contact["phone_verified"] is False  # ManyChat's own phone without its opt-in


def test_a_touch_without_last_interaction_is_timed_by_the_next_best_and_is_one_touch():
    # The real WhatsApp body: last_interaction and last_seen null, subscribed set.
    first = normalise(whatsapp(), at=AT)
    again = normalise(whatsapp(), at=datetime(2026, 11, 29, 12, 0, 40, tzinfo=UTC))

    assert first["occurred_at"] == "2026-05-04T16:54:33.000Z"
    assert first["event_id"] == again["event_id"]  # posted twice (a retry): one touch
    seen = normalise({**whatsapp(), "last_seen": "2026-11-29T11:58:00+00:00"})
    assert seen["occurred_at"] == "2026-11-29T11:58:00.000Z"  # last_seen before subscribed
    bare = {k: v for k, v in whatsapp().items() if k != "subscribed"}
    assert normalise(bare)["occurred_at"] == "2026-11-29T12:00:00.000Z"  # then the receipt time


def test_the_real_2022_messenger_contact_is_a_messenger_contact_touched_once():
    first, again = normalise(messenger()), normalise(messenger())
    contact = first["entity"]

    assert contact["channel"] == "messenger"
    assert contact["contact_id"] == "5542384912523854"
    assert (contact["phone"], contact["phone_verified"]) == (None, False)
    assert first["occurred_at"] == "2022-12-13T19:14:41.000Z"
    assert first["event_id"] == again["event_id"]
    jsonschema.validate(first, SCHEMA)


@pytest.mark.parametrize(
    ("fields", "channel"),
    [
        ({"ig_id": "17841400000000000", "ig_username": "ana.shop"}, "instagram"),
        ({"tt_user_id": "7300000000000000000", "tt_username": "ana"}, "tiktok"),
        ({"whatsapp_phone": None, "whatsapp_bsuid": "PT.13491208655302741918"}, "whatsapp"),
    ],
)
def test_instagram_tiktok_and_bsuid_contacts_keep_their_channel_and_identifiers(fields, channel):
    body = {**whatsapp(), "whatsapp_phone": None, **fields}
    contact = normalise(body)["entity"]
    assert contact["channel"] == channel
    for key, value in fields.items():
        assert contact[key] == value


def test_a_merged_contact_is_on_the_channel_of_its_newest_own_interaction():
    body = {
        **messenger(),
        "ig_id": "17841400000000000",
        "ig_last_interaction": "2023-01-02T10:00:00+00:00",
    }
    assert normalise(body)["entity"]["channel"] == "instagram"
    body["last_interaction"] = "2023-02-01T10:00:00+00:00"
    assert normalise(body)["entity"]["channel"] == "messenger"
