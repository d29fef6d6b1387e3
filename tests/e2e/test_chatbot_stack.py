"""The chat-bot leg on the running stack: the ManyChat stand-in calls the chatbot function
as ManyChat does; contacts, catalogue, attribution and the managers' alert end to end."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devstack.shopify_sender import fixture, send
from tests.conftest import Crm, load_json, unique
from tests.manychat import StandIn, new_subscriber_id


class Bot:
    """The bot's side: contacts in the stand-in, its External Requests and Dynamic Blocks."""

    def __init__(self, stack: dict[str, str]) -> None:
        self.stack = stack
        self.standin = stack["MANYCHAT_API_URL"]

    def subscriber(self, **changes: Any) -> dict[str, Any]:
        contact: dict[str, Any] = load_json("manychat/subscriber_get_info.json")["data"]
        contact = {**contact, "id": new_subscriber_id(), **changes}
        contact["live_chat_url"] = f"https://manychat.com/fb1/chat/{contact['id']}"
        response = requests.post(f"{self.standin}/_stand_in/subscribers", json=contact, timeout=5)
        response.raise_for_status()
        return contact

    def external_request(self, subscriber_id: str, shape: str) -> dict[str, Any]:
        response = requests.post(
            f"{self.standin}/_stand_in/external_request",
            json={"subscriber_id": subscriber_id, "shape": shape},
            timeout=15,
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def dynamic_block(self, **asked: Any) -> list[dict[str, Any]]:
        response = requests.post(f"{self.standin}/_stand_in/dynamic_block", json=asked, timeout=60)
        response.raise_for_status()
        return response.json()["pages"]  # type: ignore[no-any-return]


@pytest.fixture
def bot(stack: dict[str, str]) -> Bot:
    return Bot(stack)


def contact_rows(crm: Crm, contact_id: str, until: Any = bool) -> list[dict[str, Any]]:
    return crm.wait_for(
        "SELECT contact_id, phone, phone_valid, touches, first_source FROM {ds}.contacts"
        " WHERE contact_id = @c",
        until,
        c=contact_id,
    )


def test_a_contact_posted_both_ways_is_one_contact_with_an_e164_phone(bot, stack_crm):
    contact = bot.subscriber(phone="+1 (201) 555-0123")
    for shape in ("full_contact_data", "api", "full_contact_data"):
        answer = bot.external_request(contact["id"], shape)
        assert answer["status"] == 200, answer
    rows = contact_rows(stack_crm, contact["id"])
    assert rows == [
        {
            "contact_id": contact["id"],
            "phone": "+12015550123",
            "phone_valid": True,
            "touches": 1,
            "first_source": "instagram_ad",
        }
    ]


def test_a_wrong_secret_gets_401_and_leaves_no_row(bot, stack, stack_crm):
    refused, accepted = bot.subscriber(), bot.subscriber()
    body = json.dumps(load_json("manychat/full_contact_data.json") | {"id": int(refused["id"])})
    response = requests.post(
        stack["CHATBOT_URL"] + "/contacts",
        data=body,
        headers={stack["CHATBOT_SECRET_HEADER"]: "not-the-secret", "Content-Type": "x/json"},
        timeout=10,
    )
    assert response.status_code == 401
    # A contact posted after it arrives; the refused one never does.
    assert bot.external_request(accepted["id"], "api")["status"] == 200
    contact_rows(stack_crm, accepted["id"])
    assert (
        stack_crm.query(
            "SELECT contact_id FROM {ds}.contact_events WHERE contact_id = @c", c=refused["id"]
        )
        == []
    )


def kettles(stack: dict[str, str], crm: Crm, n: int) -> str:
    """``n`` products of a collection of their own, in the stack's products view."""
    collection = unique("kettle")
    base = fixture("product")
    for i in range(n):
        number = int(new_subscriber_id())
        payload = {
            **base,
            "id": number,
            "handle": f"{collection}-{i}",
            "title": f"{collection} {i:02d}",
            "product_type": collection,
            "variants": [{**base["variants"][0], "id": number + 1, "inventory_quantity": 4}],
        }
        response = send(
            stack["SHOPIFY_WEBHOOK_URL"],
            shop=stack["SHOPIFY_SHOP_DOMAIN"],
            secret=stack["SHOPIFY_API_SECRET"],
            topic="products/create",
            payload=payload,
        )
        assert response.status_code == 200
    crm.wait_for(
        "SELECT product_id FROM {ds}.products WHERE product_type = @t",
        lambda rows: len(rows) == n,
        t=collection,
    )
    return collection


def cards(page: dict[str, Any]) -> list[dict[str, Any]]:
    messages = page["answer"]["content"]["messages"]
    return [e for m in messages if m["type"] == "cards" for e in m["elements"]]


def catalogue_until(bot: Bot, count: int, **asked: Any) -> list[dict[str, Any]]:
    """The catalogue once the products sent a moment ago show (the cache lives 1 s here)."""
    import time

    deadline = time.monotonic() + 20
    while True:
        pages = bot.dynamic_block(**asked)
        if sum(len(cards(p)) for p in pages if p["status"] == 200) == count:
            return pages
        assert time.monotonic() < deadline, f"catalogue never showed {count} cards: {pages}"
        time.sleep(0.5)


def test_the_catalogue_validates_for_empty_one_page_and_several_pages(bot, stack, stack_crm):
    contact = bot.subscriber()
    empty = bot.dynamic_block(subscriber_id=contact["id"], q=unique("nothing"))
    assert [p["problems"] for p in empty] == [[]]
    assert cards(empty[0]) == [] and "Nothing matches" in json.dumps(empty[0]["answer"])

    few = kettles(stack, stack_crm, 2)
    [one] = catalogue_until(bot, 2, subscriber_id=contact["id"], collection=few, follow_more=3)
    assert one["problems"] == []

    many = kettles(stack, stack_crm, 12)
    pages = catalogue_until(bot, 12, subscriber_id=contact["id"], collection=many, follow_more=3)
    assert len(pages) == 2
    assert [p["problems"] for p in pages] == [[], []]
    assert [len(cards(p)) for p in pages] == [10, 2]
    titles = [c["title"] for p in pages for c in cards(p)]
    assert sorted(titles) == [f"{many} {i:02d}" for i in range(12)]
    assert all(
        f"orderhub_contact={contact['id']}" in c["action_url"] for p in pages for c in cards(p)
    )


def test_an_order_through_a_chat_link_is_attributed_and_counted(bot, stack, stack_crm):
    contact = bot.subscriber(last_interaction="2026-11-20T08:00:00+00:00")
    contact["custom_fields"] = [{"id": 1, "name": "source", "type": "text", "value": unique("ad")}]
    requests.post(f"{bot.standin}/_stand_in/subscribers", json=contact, timeout=5)
    assert bot.external_request(contact["id"], "full_contact_data")["status"] == 200
    source = contact["custom_fields"][0]["value"]
    collection = kettles(stack, stack_crm, 1)
    [page] = catalogue_until(bot, 1, subscriber_id=contact["id"], collection=collection)
    [card] = cards(page)
    buy = next(b["url"] for b in card["buttons"] if b["caption"] == "Buy now")
    # What Shopify's checkout keeps of the cart permalink: its attributes, as note attributes.
    note_attributes = [
        {"name": key[len("attributes[") : -1], "value": value[0]}
        for key, value in parse_qs(urlsplit(buy).query).items()
    ]
    order_id = int(new_subscriber_id())
    order = {
        **fixture("order"),
        "id": order_id,
        "name": f"#{order_id}",
        "note_attributes": note_attributes,
        "created_at": "2026-11-20T09:00:00+00:00",
        "updated_at": "2026-11-20T09:00:00+00:00",
    }
    response = send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=stack["SHOPIFY_SHOP_DOMAIN"],
        secret=stack["SHOPIFY_API_SECRET"],
        topic="orders/create",
        payload=order,
    )
    assert response.status_code == 200
    [row] = stack_crm.wait_for(
        "SELECT attribution.contact_id AS contact, attribution.evidence AS evidence,"
        " attribution.source AS source FROM {ds}.orders WHERE order_id = @o",
        bool,
        o=str(order_id),
    )
    assert row == {"contact": contact["id"], "evidence": "link", "source": source}
    [funnel] = stack_crm.wait_for(
        "SELECT day, contacts_touched, orders, revenue FROM {ds}.chat_funnel WHERE source = @s",
        bool,
        s=source,
    )
    assert (str(funnel["day"]), funnel["contacts_touched"], funnel["orders"]) == (
        "2026-11-20",
        1,
        1,
    )
    assert str(funnel["revenue"]).startswith(str(order["total_price"]))


def test_managers_hear_of_a_new_contact_with_its_live_chat(bot, stack, stack_managers):
    # Once per contact however often it comes back: tests/unit/test_chatbot_notify.py.
    standin = StandIn(stack["MANYCHAT_API_URL"])
    contact = bot.subscriber()
    assert bot.external_request(contact["id"], "api")["status"] == 200
    for manager in stack_managers:
        # (this contact's message: other tests' messages reach these managers too)
        calls = standin.wait_for(
            manager, lambda c: any(contact["id"] in json.dumps(x["body"]) for x in c)
        )
        [call] = [c for c in calls if contact["id"] in json.dumps(c["body"])]
        assert call["delivered"]
        [message] = call["body"]["data"]["content"]["messages"]
        assert message["text"].startswith("👋 New chat contact")
        assert message["buttons"][0]["url"] == contact["live_chat_url"]
