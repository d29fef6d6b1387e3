"""chatbot through functions-framework, against the Pub/Sub and BigQuery emulators, and
contact events through crm_writer into the contacts, orders and chat_funnel views."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from functions_framework import create_app

from devstack.shopify_sender import fixture
from devstack.standins.manychat import validate_dynamic_block
from orderhub.event import decode
from orderhub.sources import manual
from tests.conftest import ROOT, load_json, unique
from tests.integration.test_crm_writer import deliver, shopify_event

SECRET, HEADER = "int-chatbot-secret-0123456789", "X-OrderHub-Secret"
SHOP = "crm.myshopify.com"
CONTACT = "1324564712345678901"


@pytest.fixture
def chatbot(emulators, topic, crm):
    os.environ.update(
        {
            "ORDER_EVENTS_TOPIC": topic.name,
            "SHOPIFY_SHOP_DOMAIN": SHOP,
            "CHATBOT_SECRET": SECRET,
            "CHATBOT_SECRET_HEADER": HEADER,
            "CHATBOT_STORE_URL": "https://shop.example",
        }
    )
    return create_app("chatbot", str(ROOT / "functions" / "main.py"), "http").test_client()


@pytest.fixture
def writer(crm):
    return create_app("crm_writer", str(ROOT / "functions" / "main.py"), "cloudevent").test_client()


def post(client: Any, route: str, body: Any, secret: str | None = SECRET) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {HEADER: secret} if secret is not None else {}
    return client.post(route, data=data, headers=headers, content_type="application/json")


def test_a_contact_in_both_shapes_becomes_contact_touched_events(chatbot, topic):
    for body in (
        load_json("manychat/full_contact_data.json"),
        load_json("manychat/subscriber_get_info.json"),
    ):
        response = post(chatbot, "/contacts", body)
        assert response.status_code == 200, response.text
        assert response.json["contact_id"] == CONTACT
        assert response.json["phone"] == "+12015550123"
    events = [decode(m.data) for m in topic.pull(expect=2)]
    assert [e["event_type"] for e in events] == ["contact.touched"] * 2
    assert {e["entity"]["phone"] for e in events} == {"+12015550123"}
    assert {e["entity"]["attribution_window_days"] for e in events} == {30}
    assert all(e["raw"]["body"] for e in events)  # the post verbatim, for raw_events


@pytest.mark.parametrize("secret", ["wrong-secret-0123456789abc", "", None])
def test_a_wrong_or_missing_secret_gets_401_and_nothing_is_published(chatbot, topic, secret):
    body = load_json("manychat/full_contact_data.json")
    assert post(chatbot, "/contacts", body, secret=secret).status_code == 401
    assert post(chatbot, "/catalogue", {}, secret=secret).status_code == 401
    assert topic.pull(expect=0, timeout=1.5) == []


def test_a_body_over_the_limit_gets_413_unread_and_nothing_is_published(chatbot, topic):
    body = {"id": CONTACT, "custom_fields": {"blob": "x" * 300_000}}
    response = post(chatbot, "/contacts", body)
    assert response.status_code == 413
    assert "Content-Length" in response.json["reason"]
    assert topic.pull(expect=0, timeout=1.5) == []


def test_bad_input_gets_400_with_a_reason_and_the_body_quarantined(chatbot, topic):
    response = post(chatbot, "/contacts", {"first_name": "No id"})
    assert response.status_code == 400
    assert "subscriber id" in response.json["reason"]
    [message] = topic.pull(expect=1)
    event = decode(message.data)
    assert event["event_type"] == "payload.quarantined"
    assert json.loads(event["raw"]["body"]) == {"first_name": "No id"}


def test_unknown_routes_and_methods(chatbot):
    assert post(chatbot, "/elsewhere", {}).status_code == 404
    assert chatbot.get("/contacts", headers={HEADER: SECRET}).status_code == 405


def test_a_publish_that_fails_is_a_503_so_the_bot_can_try_again(chatbot):
    os.environ["ORDER_EVENTS_TOPIC"] = "no-such-topic"
    response = post(chatbot, "/contacts", load_json("manychat/full_contact_data.json"))
    assert response.status_code == 503


def products_in_crm(writer: Any, n: int, product_type: str) -> None:
    base = fixture("product")
    for i in range(n):
        payload = {
            **base,
            "id": 900000 + i,
            "title": f"{product_type} {i:02d}",
            "product_type": product_type,
            "variants": [{**base["variants"][0], "id": 800000 + i, "inventory_quantity": i % 3}],
        }
        deliver(writer, shopify_event("products/create", payload, webhook_id=f"p{i}"))


def test_the_catalogue_comes_from_the_products_view_and_pages_validate(chatbot, writer):
    products_in_crm(writer, 12, "Kettle")
    response = post(chatbot, "/catalogue", {"contact_id": CONTACT, "collection": "kettle"})
    assert response.status_code == 200
    page = response.json
    assert validate_dynamic_block(page) == []
    cards = page["content"]["messages"][0]["elements"]
    assert len(cards) == 10
    # In stock first: every third product has none and comes last.
    assert [c["subtitle"].endswith("out of stock") for c in cards] == [False] * 8 + [True] * 2
    assert all(f"orderhub_contact={CONTACT}" in c["action_url"] for c in cards)
    button = page["content"]["messages"][1]["buttons"][0]
    assert button["url"] == "http://localhost/catalogue"  # the test client's own address
    # ManyChat sends the button's headers back: its own token, no secret (issue 21).
    assert SECRET not in json.dumps(page)
    second = chatbot.post(
        "/catalogue",
        data=json.dumps(button["payload"]).encode(),
        headers=button["headers"],
        content_type="application/json",
    )
    assert validate_dynamic_block(second.json) == []
    assert len(second.json["content"]["messages"][0]["elements"]) == 2
    assert len(second.json["content"]["messages"]) == 1  # no More on the last page
    empty = post(chatbot, "/catalogue", {"q": "teapot"})
    assert validate_dynamic_block(empty.json) == []
    assert "teapot" in empty.json["content"]["messages"][0]["text"]


def contact_event(chatbot: Any, topic: Any, body: dict[str, Any]) -> Any:
    assert post(chatbot, "/contacts", body).status_code == 200
    [message] = topic.pull(expect=1)
    return decode(message.data)


def test_contacts_view_one_row_per_contact_linked_to_the_customer(chatbot, topic, writer, crm):
    full = load_json("manychat/full_contact_data.json")
    customer = {**fixture("customer"), "phone": "+12015550123", "email": "other@example.com"}
    deliver(writer, shopify_event("customers/create", customer, webhook_id="c1"))
    first = contact_event(chatbot, topic, full)
    deliver(writer, first)
    deliver(writer, first)  # redelivered
    deliver(writer, contact_event(chatbot, topic, load_json("manychat/subscriber_get_info.json")))
    later = {**full, "last_interaction": "2018-07-05T00:00:00+00:00"}
    later["custom_fields"] = {**full["custom_fields"], "source": "organic"}
    deliver(writer, contact_event(chatbot, topic, later))
    rows = crm.query(
        "SELECT contact_id, phone, touches, first_source, last_source, customer_id,"
        " customer_match FROM {ds}.contacts"
    )
    assert rows == [
        {
            "contact_id": CONTACT,
            "phone": "+12015550123",
            "touches": 2,
            "first_source": "instagram_ad",
            "last_source": "organic",
            "customer_id": str(customer["id"]),
            "customer_match": "phone",
        }
    ]


def test_an_invalid_phone_is_kept_and_never_links(chatbot, topic, writer, crm):
    body = {**load_json("manychat/full_contact_data.json"), "phone": "12-34", "email": None}
    customer = {**fixture("customer"), "phone": "12-34", "email": None}
    deliver(writer, shopify_event("customers/create", customer, webhook_id="c2"))
    deliver(writer, contact_event(chatbot, topic, body))
    [row] = crm.query("SELECT phone, phone_valid, flags, customer_id FROM {ds}.contacts")
    assert row == {"phone": "12-34", "phone_valid": False, "flags": ["phone_invalid"],
                   "customer_id": None}  # fmt: skip


def attribution(crm: Any) -> dict[str, Any]:
    rows = crm.query(
        "SELECT order_id, attribution.contact_id AS contact, attribution.evidence AS evidence,"
        " attribution.source AS source, attribution.campaign AS campaign, attribution.ad AS ad"
        " FROM {ds}.orders ORDER BY order_id"
    )
    return {r.pop("order_id"): r for r in rows}


def test_orders_are_attributed_by_link_by_manager_and_by_phone_within_the_window(
    chatbot, topic, writer, crm
):
    touch = contact_event(chatbot, topic, load_json("manychat/full_contact_data.json"))
    deliver(writer, touch)  # touched 2018-07-02
    order = fixture("order")
    via_link = {
        **order,
        "id": 1,
        "note_attributes": [{"name": "orderhub_contact", "value": CONTACT}],
        "created_at": "2018-07-03T00:00:00Z",
    }
    same_phone = {
        **order,
        "id": 2,
        "phone": "+1 201-555-0123",
        "created_at": "2018-07-20T00:00:00Z",
    }
    too_late = {**order, "id": 3, "phone": "+12015550123", "created_at": "2018-08-20T00:00:00Z"}
    stranger = {**order, "id": 4, "created_at": "2018-07-03T00:00:00Z"}
    for i, payload in enumerate((via_link, same_phone, too_late, stranger)):
        deliver(writer, shopify_event("orders/create", payload, webhook_id=f"o{i}"))
    form_order, _ = manual.validate(
        manual.read_form(
            {
                "customer_name": "Ann",
                "phone": "+442079460958",
                "delivery_method": "pickup",
                "channel": next(iter(manual.CHANNELS)),
                "chat_contact": "https://manychat.com/fb1/chat/" + CONTACT,
                "lines-0-title": "Tea",
                "lines-0-quantity": "1",
                "lines-0-price": "5",
            }
        ),
        link_mode=False,
        default_country="US",
        currency="USD",
        delivery_methods=("pickup",),
    )
    assert form_order is not None
    deliver(
        writer,
        manual.order_event(
            form_order, manager="demo", form_token="t" * 20, shop=SHOP, at=touch_time()
        ),
    )
    found = attribution(crm)
    chat = {"contact": CONTACT, "source": "instagram_ad", "campaign": "spring_sale",
            "ad": "23850000000000001"}  # fmt: skip
    assert found["1"] == {**chat, "evidence": "link"}
    assert found["2"] == {**chat, "evidence": "phone_or_email"}
    assert found["3"]["contact"] is None  # 49 days after the touch: outside the 30-day window
    assert found["4"]["contact"] is None
    [form_id] = [k for k in found if k not in ("1", "2", "3", "4")]
    assert found[form_id] == {**chat, "evidence": "manager"}
    funnel = crm.query(
        "SELECT day, source, contacts_touched, orders FROM {ds}.chat_funnel ORDER BY day"
    )
    assert sum(r["orders"] for r in funnel if r["source"] == "instagram_ad") == 3
    assert sum(r["contacts_touched"] for r in funnel) == 1


def touch_time() -> Any:
    from datetime import UTC, datetime

    return datetime(2018, 7, 4, tzinfo=UTC)


def test_a_more_token_opens_only_its_own_page_and_never_the_contacts_route(chatbot, writer):
    products_in_crm(writer, 12, "Kettle")
    page = post(chatbot, "/catalogue", {"contact_id": CONTACT, "collection": "kettle"}).json
    button = page["content"]["messages"][1]["buttons"][0]
    assert SECRET not in json.dumps(page)
    [(name, token)] = button["headers"].items()
    other_page = json.dumps({**button["payload"], "page": 1}).encode()
    forged = chatbot.post(
        "/catalogue", data=other_page, headers={name: token}, content_type="application/json"
    )
    assert forged.status_code == 401
    contacts_with_token = chatbot.post(
        "/contacts", data=b"{}", headers={name: token}, content_type="application/json"
    )
    assert contacts_with_token.status_code == 401


@pytest.mark.parametrize(
    "claim",
    [
        # typed into a custom field the bot asked for
        {"phone": None, "email": None, "optin_phone": False,
         "custom_fields": {"phone": "+1 201 555 0123", "email": "subscriber@example.com"}},
        # ManyChat's own fields, but never confirmed through its opt-in
        {"optin_phone": False, "optin_email": False},
    ],
)  # fmt: skip
def test_a_phone_typed_in_chat_neither_links_a_stranger_nor_takes_her_orders(
    chatbot, topic, writer, crm, claim
):
    # Issue 21: a Messenger user types the shop customer's phone and e-mail.
    customer = {**fixture("customer"), "phone": "+12015550123", "email": "subscriber@example.com"}
    deliver(writer, shopify_event("customers/create", customer, webhook_id="c-stranger"))
    body = {**load_json("manychat/full_contact_data.json"), **claim}
    body["custom_fields"] = {**body["custom_fields"], **claim.get("custom_fields", {})}
    deliver(writer, contact_event(chatbot, topic, body))
    her_order = {**fixture("order"), "id": 21, "phone": "+12015550123"}
    her_order.update(email="subscriber@example.com", created_at="2018-07-03T00:00:00Z")
    deliver(writer, shopify_event("orders/create", her_order, webhook_id="o-stranger"))

    [row] = crm.query("SELECT contact_id, customer_id, identity FROM {ds}.contacts")
    assert row == {"contact_id": CONTACT, "customer_id": None, "identity": "unconfirmed"}
    assert attribution(crm)["21"]["contact"] is None


def test_contacts_ignores_the_managers_subscriber_ids(chatbot, topic):
    # Issue 21: a post with a manager's id would reset that manager's Messenger window in
    # Needs attention; the managers are not contacts.
    manager = {"subscriber_id": CONTACT, "name": "Anna"}
    os.environ["NOTIFY_MANAGERS"] = json.dumps([manager])
    os.environ["FIRESTORE_PREFIX"] = unique("int") + "_"  # no settings/managers there

    response = post(chatbot, "/contacts", load_json("manychat/full_contact_data.json"))

    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    other = {**load_json("manychat/full_contact_data.json"), "id": "1324564700000000001"}
    assert post(chatbot, "/contacts", other).json["status"] == "accepted"
    published = [decode(m.data) for m in topic.pull(expect=2, timeout=3)]
    assert [e["entity"]["contact_id"] for e in published] == [other["id"]]


def test_a_whatsapp_contact_as_manychat_posts_it_keeps_its_phone_in_e164_and_its_channel(
    chatbot, topic, writer, crm
):
    # A real 2026 WhatsApp "Full Contact Data" body: phone null, the number in
    # whatsapp_phone, last_interaction null (tests/fixtures/SOURCES.md).
    body = load_json("manychat/whatsapp_full_contact_data_2026.json")
    response = post(chatbot, "/contacts", body)
    assert response.status_code == 200, response.text
    assert (response.json["phone"], response.json["phone_valid"]) == ("+50688217229", True)
    [message] = topic.pull(expect=1)
    deliver(writer, decode(message.data))
    [row] = crm.query("SELECT contact_id, phone, phone_valid, channel FROM {ds}.contacts")
    assert row == {"contact_id": "1515862162", "phone": "+50688217229", "phone_valid": True,
                   "channel": "whatsapp"}  # fmt: skip
    [funnel] = crm.query("SELECT channel, contacts_touched FROM {ds}.chat_funnel")
    assert funnel == {"channel": "whatsapp", "contacts_touched": 1}


def test_a_real_2022_messenger_contact_posted_twice_is_stored_once(chatbot, topic, writer, crm):
    body = load_json("manychat/messenger_full_contact_data_2022.json")
    for _ in range(2):  # ManyChat retried the External Request
        assert post(chatbot, "/contacts", body).status_code == 200
    events = [decode(m.data) for m in topic.pull(expect=2)]
    assert len({e["event_id"] for e in events}) == 1
    for event in events:
        deliver(writer, event)
    rows = crm.query("SELECT contact_id, name, touches, channel FROM {ds}.contacts")
    assert rows == [{"contact_id": "5542384912523854", "name": "Imran Qurban", "touches": 1,
                     "channel": "messenger"}]  # fmt: skip
