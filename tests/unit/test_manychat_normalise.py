"""ManyChat contacts → contact.touched events (orderhub.sources.manychat), both shapes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from orderhub.errors import PoisonMessage
from orderhub.event import Event
from orderhub.sources import manychat
from tests.conftest import ROOT, load_json

SHOP = "orderhub-demo.myshopify.com"
AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def normalise(payload: Any, country: str = "US") -> Event:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    raw = manychat.raw_record(body, shop=SHOP, route="contacts", received_at=AT)
    return manychat.normalise(body, shop=SHOP, raw=raw, received_at=AT, default_country=country)


def full() -> dict[str, Any]:
    return load_json("manychat/full_contact_data.json")  # type: ignore[no-any-return]


def api() -> dict[str, Any]:
    return load_json("manychat/subscriber_get_info.json")  # type: ignore[no-any-return]


@pytest.mark.parametrize("shape", [full, api, lambda: api()["data"]], ids=["map", "api", "bare"])
def test_both_custom_field_shapes_give_the_same_contact(shape):
    contact = normalise(shape())["entity"]
    assert contact["contact_id"] == "1324564712345678901"
    assert contact["page_id"] == "234564657123456789"
    assert (contact["phone"], contact["phone_valid"]) == ("+12015550123", True)
    assert contact["email"] == "subscriber@example.com"
    assert (contact["touch_source"], contact["campaign"], contact["ad"]) == (
        "instagram_ad",
        "spring_sale",
        "23850000000000001",
    )
    assert contact["custom_fields"]["customDate"] == "2018-05-31"
    assert contact["live_chat_url"].endswith("/chat/1324564712345678901")
    assert contact["last_interaction_at"] == "2018-07-02T00:00:00.000Z"
    assert contact["flags"] == []


def test_the_event_envelope():
    event = normalise(full())
    assert (event["event_type"], event["entity_type"], event["source"]) == (
        "contact.touched",
        "contact",
        "manychat",
    )
    assert event["entity_id"] == "1324564712345678901"
    assert event["occurred_at"] == "2018-07-02T00:00:00.000Z"  # the interaction, not arrival
    assert event["raw"]["kind"] == "manychat_request"


def test_tags_from_the_api_and_plain_lists():
    assert normalise(api())["entity"]["tags"] == ["lead", "spring"]
    assert normalise({**full(), "tags": ["vip", " ", "vip", "new"]})["entity"]["tags"] == [
        "new",
        "vip",
    ]


def test_an_invalid_phone_is_kept_as_typed_and_flagged():
    contact = normalise({**full(), "phone": "12-34"})["entity"]
    assert (contact["phone"], contact["phone_valid"]) == ("12-34", False)
    assert contact["flags"] == ["phone_invalid"]


def test_a_phone_without_country_code_reads_in_the_bots_country():
    contact = normalise({**full(), "phone": "050 123 4567"}, country="UA")["entity"]
    assert contact["phone"] == "+380501234567"


def test_the_phone_may_come_from_a_custom_field():
    payload = {**full(), "phone": None}
    payload["custom_fields"] = {**payload["custom_fields"], "Phone": "+44 20 7946 0958"}
    assert normalise(payload)["entity"]["phone"] == "+442079460958"


def test_the_growth_tool_is_the_source_when_the_bot_set_none():
    payload = {**full(), "last_growth_tool": "Instagram comment"}
    payload["custom_fields"] = {"customField": 1}
    contact = normalise(payload)["entity"]
    assert (contact["touch_source"], contact["growth_tool"]) == (
        "Instagram comment",
        "Instagram comment",
    )


def test_the_same_post_twice_is_one_event_and_a_new_interaction_a_new_one():
    first, again = normalise(full()), normalise(full())
    later = normalise({**full(), "last_interaction": "2018-07-03T09:00:00+00:00"})
    assert first["event_id"] == again["event_id"]
    assert later["event_id"] != first["event_id"]
    assert later["entity_id"] == first["entity_id"]
    assert later["version"] > first["version"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"name": "no id"}).encode(), "no subscriber id"),
        (json.dumps({**full(), "id": "abc"}).encode(), "no subscriber id"),
        (json.dumps({**full(), "custom_fields": "x"}).encode(), "neither a map nor a list"),
        (json.dumps({**full(), "custom_fields": [{"value": 1}]}).encode(), "{id, name"),
        (json.dumps({"status": "error", "data": {}}).encode(), "error answer"),
        (b"{" + b" " * manychat.MAX_BODY_BYTES + b"}", "larger than"),
    ],
)
def test_bad_input_is_refused_with_a_short_reason(body, reason):
    with pytest.raises(PoisonMessage) as refused:
        normalise(body)
    assert reason in refused.value.reason
    assert len(refused.value.reason) < 120


def test_normalising_does_not_change_the_payload():
    payload = api()
    kept = copy.deepcopy(payload)
    normalise(payload)
    assert payload == kept


SCHEMA = json.loads((ROOT / "schemas" / "event.v1.json").read_text())


@pytest.mark.parametrize("phone", ["+12015550123", "12-34", None])
def test_contact_events_satisfy_the_event_schema(phone):
    jsonschema.validate(normalise({**full(), "phone": phone}), SCHEMA)
    jsonschema.validate(normalise(api()), SCHEMA)


def test_an_order_carrying_a_chat_contact_satisfies_the_event_schema():
    from orderhub.sources.shopify import order_entity

    order = {**load_json("shopify/shopify_python_api__order.json")["order"]}
    order["note_attributes"] = [{"name": "orderhub_contact", "value": "42"}]
    entity = order_entity(order)
    assert entity["attribution"]["contact_id"] == "42"
    event = {**normalise(full()), "event_type": "order.created", "entity_type": "order"}
    jsonschema.validate({**event, "source": "shopify", "entity": entity}, SCHEMA)
