"""The chat-bot leg on the local stack: the ManyChat stand-in posts demo contacts to the
``chatbot`` function (as External Requests, both custom-field shapes), asks for the
catalogue (as a Dynamic Block, following "More"), and a customer buys through a card's
link, so that ``scripts/dev`` shows contacts arriving, the catalogue served and an order
attributed to the chat."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from devstack import dataset
from devstack.shopify_sender import fixture, send
from orderhub.money import format_money

#: Invented demo contacts of the bot, in the API's shape (the stand-in renders the other).
DEMO_CONTACTS: tuple[dict[str, Any], ...] = (
    {
        "id": "7100000000000001",
        "page_id": "7000000000000001",
        "first_name": "Olena",
        "last_name": "Demo",
        "name": "Olena Demo",
        "locale": "uk_UA",
        "phone": "+380 50 123 4567",
        "email": "olena.demo@example.com",
        "live_chat_url": "https://manychat.com/fb7000000000000001/chat/7100000000000001",
        "last_interaction": "2026-11-28T09:00:00+00:00",
        "subscribed": "2026-11-28T09:00:00+00:00",
        "custom_fields": [
            {"id": 1, "name": "source", "type": "text", "value": "instagram_ad"},
            {"id": 2, "name": "campaign", "type": "text", "value": "winter_tea"},
            {"id": 3, "name": "ad_id", "type": "text", "value": "23850000000000042"},
        ],
        "tags": [{"id": 1, "name": "lead"}],
    },
    {
        "id": "7100000000000002",
        "page_id": "7000000000000001",
        "first_name": "Marko",
        "name": "Marko",
        "phone": "not sure",
        "live_chat_url": "https://manychat.com/fb7000000000000001/chat/7100000000000002",
        "last_interaction": "2026-11-28T10:30:00+00:00",
        "last_growth_tool": "Messenger ref link",
        "custom_fields": [],
        "tags": [],
    },
)


def run(values: dict[str, str]) -> None:
    standin = values["MANYCHAT_API_URL"]
    for i, contact in enumerate(DEMO_CONTACTS):
        requests.post(f"{standin}/_stand_in/subscribers", json=contact, timeout=10)
        shape = "full_contact_data" if i % 2 == 0 else "api"
        answer = requests.post(
            f"{standin}/_stand_in/external_request",
            json={"subscriber_id": contact["id"], "shape": shape},
            timeout=15,
        ).json()
        print(f"demo: contact {contact['id']} ({shape:17}) → {answer['status']} {answer['body']}")
    buyer = DEMO_CONTACTS[0]["id"]
    pages = requests.post(
        f"{standin}/_stand_in/dynamic_block",
        json={"subscriber_id": buyer, "follow_more": 2},
        timeout=30,
    ).json()["pages"]
    for number, page in enumerate(pages, 1):
        messages = page["answer"]["content"]["messages"] if page["status"] == 200 else []
        cards = [e for m in messages if m["type"] == "cards" for e in m["elements"]]
        print(
            f"demo: catalogue page {number} → {page['status']}, {len(cards)} card(s),"
            f" {'valid' if not page['problems'] else page['problems']}"
        )
    buy = _buy_link(pages)
    if buy is None:
        print("demo: no product to buy in the catalogue yet")
        return
    # The customer taps "Buy now": the cart attribute comes back on the order.
    attributes = parse_qs(urlsplit(buy).query)
    order = {
        **fixture("order"),
        "id": 450789999,
        "name": "#1099",
        "order_number": 1099,
        "created_at": "2026-11-28T11:00:00+00:00",
        "updated_at": "2026-11-28T11:00:00+00:00",
        "note_attributes": [
            {"name": key[len("attributes[") : -1], "value": value[0]}
            for key, value in attributes.items()
        ],
    }
    response = send(
        values["SHOPIFY_WEBHOOK_URL"],
        shop=values["SHOPIFY_SHOP_DOMAIN"],
        secret=values["SHOPIFY_API_SECRET"],
        topic="orders/create",
        payload=order,
    )
    print(f"demo: order #1099 through the chat's Buy link → {response.status_code}")
    dataset.wait_for_rows(values, "contacts", timeout=20.0, expected=len(DEMO_CONTACTS))


def _buy_link(pages: list[dict[str, Any]]) -> str | None:
    for page in pages:
        if page["status"] != 200:
            continue
        for message in page["answer"]["content"]["messages"]:
            for element in message.get("elements") or []:
                for button in element.get("buttons") or []:
                    if button.get("caption") == "Buy now":
                        return str(button["url"])
    return None


def show(values: dict[str, str]) -> None:
    client = dataset.bigquery_client(
        values["GOOGLE_CLOUD_PROJECT"], values["BIGQUERY_EMULATOR_HOST"]
    )
    ds = f"{values['GOOGLE_CLOUD_PROJECT']}.{values['BIGQUERY_DATASET']}"
    columns = "contact_id, name, phone, phone_valid, first_source, touches, customer_id"
    query = f"SELECT {columns} FROM `{ds}.contacts` ORDER BY contact_id"  # noqa: S608
    print("\ncontacts view (the chat-bot's contacts):")
    for row in client.query(query).result():
        phone = row.phone if row.phone_valid else f"{row.phone!r} (as typed, flagged)"
        print(
            f"  {row.contact_id:18} {row.name or '':12} {phone or '—':26}"
            f" from {row.first_source or '—':14} touches {row.touches}"
            f" customer {row.customer_id or '—'}"
        )
    print("chat_funnel view:")
    funnel = f"SELECT * FROM `{ds}.chat_funnel` ORDER BY day, source"  # noqa: S608
    for row in client.query(funnel).result():
        print(
            f"  {row.day} {row.source:16} contacts {row.contacts_touched}  orders {row.orders}"
            f"  revenue {format_money(row.revenue, row.currency)}"
        )
    print(
        f"Chat-bot: POST {values['CHATBOT_URL']}/contacts and /catalogue with header"
        f" {values['CHATBOT_SECRET_HEADER']}: CHATBOT_SECRET (in .dev/endpoints.env)."
    )
