"""The catalogue answers in the format each channel takes (issue 25, item 5; ManyChat's
"Response Reference for Instagram, WhatsApp and Telegram Automation"): Dynamic Block v2
names the channel in ``content.type`` for Instagram, WhatsApp and Telegram; WhatsApp and
Telegram take no galleries; those channels take url, flow and node buttons only. The
stand-in's ``validate_dynamic_block`` refuses what ManyChat refuses."""

from __future__ import annotations

import json

import pytest

from devstack.standins.manychat import validate_dynamic_block
from orderhub.chatbot import catalogue
from tests.conftest import load_json
from tests.unit.test_chatbot_catalogue import LINKS, product


def asked(body: dict) -> catalogue.Request:
    return catalogue.parse_request(json.dumps(body).encode())


@pytest.mark.parametrize("channel", ["messenger", "instagram", "whatsapp", "telegram"])
def test_each_channel_gets_an_answer_it_accepts(channel):
    products = [product(n) for n in range(14)]
    request = asked({"contact_id": "1515862162", "channel": channel})
    answer = catalogue.reply(products, request, LINKS)
    assert validate_dynamic_block(answer, channel) == []
    kinds = [m["type"] for m in answer["content"]["messages"]]
    if channel in ("whatsapp", "telegram"):
        assert answer["content"]["type"] == channel
        assert kinds == ["text"] * 10  # nine products, then "write a word to narrow it"
        first = answer["content"]["messages"][0]
        assert first["text"].startswith("Product 00")
        assert [b["caption"] for b in first["buttons"]] == ["View", "Buy now"]
    elif channel == "instagram":
        assert answer["content"]["type"] == "instagram"
        assert kinds == ["cards", "text"]
    else:
        assert "type" not in answer["content"]
        assert kinds == ["cards", "text"]  # the "More" callback, Messenger's only


def test_the_channel_is_read_from_full_contact_data_when_the_bot_does_not_say():
    body = load_json("manychat/whatsapp_full_contact_data_2026.json")
    assert asked(body).channel == "whatsapp"
    assert asked(load_json("manychat/messenger_full_contact_data_2022.json")).channel == (
        "messenger"
    )


def test_a_messenger_answer_is_refused_for_a_whatsapp_contact_by_the_stand_in():
    products = [product(n) for n in range(14)]
    messenger = catalogue.reply(products, asked({"contact_id": "1"}), LINKS)
    problems = validate_dynamic_block(messenger, "whatsapp")
    assert 'content.type must be "whatsapp" for a whatsapp contact' in problems
    assert "whatsapp takes no galleries (cards)" in problems
    assert any("dynamic_block_callback button is not for whatsapp" in p for p in problems)


def test_nothing_found_and_unavailable_are_typed_too():
    answer = catalogue.reply([], asked({"channel": "telegram", "q": "kettle"}), LINKS)
    assert answer["content"]["type"] == "telegram"
    assert validate_dynamic_block(catalogue.unavailable("instagram"), "instagram") == []
