"""A manager confirms or rejects a chat contact's identity in the CRM app (issue 21).

A phone typed in chat links the contact to nobody and credits it with no order; a
manager's "This is the customer" on the customer page (a CSRF-guarded POST that publishes
one ``contact.identity`` event, kept by crm_writer in ``contact_identities``) makes the
``contacts`` view link it (identity 'confirmed') and the ``orders`` view credit it; "Not
this customer" undoes that (identity 'rejected').
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.conftest import load_json
from tests.integration.test_crmapp import (  # noqa: F401 (the app fixture)
    NOW,
    SHOP,
    App,
    app,
    hidden,
    shopify_order,
    soup,
)

CONTACT = "1324564712345678901"
PHONE = "+12015550123"


def typed_contact() -> Any:
    """The contact posted to the chat-bot, with the customer's phone typed (no opt-in)."""
    from orderhub.sources import manychat

    body = {
        **load_json("manychat/full_contact_data.json"),
        "phone": "(201) 555-0123",
        "email": None,
        "optin_phone": False,
        "optin_email": False,
        "last_interaction": (NOW - timedelta(hours=2)).isoformat(),
    }
    data = json.dumps(body).encode()
    raw = manychat.raw_record(data, shop=SHOP, route="/contacts", received_at=NOW)
    return manychat.normalise(data, shop=SHOP, raw=raw, received_at=NOW, default_country="US")


def customer_record() -> Any:
    """The shop's customer whose phone the contact typed."""
    from devstack.shopify_sender import fixture
    from orderhub.sources.shopify import Delivery, normalise

    payload = {**fixture("customer"), "phone": PHONE, "email": "her@example.com"}
    payload["updated_at"] = (NOW - timedelta(days=1)).isoformat()
    body = json.dumps(payload)
    raw = {
        "raw_id": "raw-identity-customer",
        "kind": "shopify_webhook",
        "received_at": NOW.isoformat(),
        "sha256": "x",
        "body": body,
        "meta": {"topic": "customers/create"},
    }
    delivery = Delivery("customers/create", SHOP, "w-identity-customer", None, None, NOW)
    return normalise(delivery, body.encode(), raw)


def linked(crm_app: App) -> tuple[dict[str, Any], Any]:
    rows = crm_app.crm.query("SELECT contact_id, customer_id, identity FROM {ds}.contacts")
    [row] = [r for r in rows if r["contact_id"] == CONTACT]
    [order] = crm_app.crm.query(
        "SELECT attribution.contact_id AS contact FROM {ds}.orders WHERE order_id = '9101'"
    )
    return row, order["contact"]


def decide(crm_app: App, decision: str) -> Any:
    page = crm_app.client.get("/customers/p12015550123")
    button = soup(page).find("button", attrs={"name": "identity", "value": decision})
    assert button is not None, f"no {decision} button"
    form = button.find_parent("form")
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "action_token": hidden(page, "action_token"),
        "decision": decision,
    }
    return crm_app.client.post(form["action"], data=data)


def test_a_manager_confirms_then_rejects_a_contact_that_typed_a_customers_phone(
    app: App,  # noqa: F811
) -> None:
    app.deliver(customer_record())
    app.deliver(typed_contact())
    app.deliver(shopify_order(9101, PHONE, minutes_ago=30))  # her order, after the touch
    row, credited = linked(app)
    assert row["identity"] == "unconfirmed" and row["customer_id"] is None
    assert credited is None

    app.sign_in("anna")
    page = app.client.get("/customers/p12015550123")
    [chat] = soup(page).select("#chat-contacts li")
    assert "unconfirmed" in chat.get_text(" ")

    answer = decide(app, "confirmed")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert answer.headers["Location"].startswith("/customers/p12015550123?done=confirmed")
    [event] = app.deliver_published(expect=1)
    assert event["event_type"] == "contact.identity" and event["source"] == "manual"
    assert (
        event["entity"].items()
        >= {
            "contact_id": CONTACT,
            "decision": "confirmed",
            "phone": PHONE,
            "manager": "anna",
            "manager_name": "Anna K",
        }.items()
    )
    row, credited = linked(app)
    assert row["identity"] == "confirmed" and row["customer_id"] is not None
    assert credited == CONTACT
    [chat] = soup(app.client.get("/customers/p12015550123")).select("#chat-contacts li")
    assert "confirmed by Anna K" in " ".join(chat.get_text(" ").split())

    assert decide(app, "rejected").status_code == 303
    app.deliver_published(expect=1)
    row, credited = linked(app)
    assert row["identity"] == "rejected" and row["customer_id"] is None
    assert credited is None


def test_a_decision_needs_a_session_a_csrf_token_and_a_known_contact(app: App) -> None:  # noqa: F811
    app.deliver(typed_contact())
    app.deliver(shopify_order(9101, PHONE, minutes_ago=30))
    path = f"/customers/p12015550123/contacts/{CONTACT}"
    assert app.client.post(path, data={"decision": "confirmed"}).status_code in (302, 303, 401)
    app.sign_in("anna")
    page = app.client.get("/customers/p12015550123")
    csrf, token = hidden(page, "csrf_token"), hidden(page, "action_token")
    no_csrf = app.client.post(path, data={"action_token": token, "decision": "confirmed"})
    assert no_csrf.status_code in (400, 403)
    stranger = app.client.post(
        "/customers/p12015550123/contacts/999",
        data={"csrf_token": csrf, "action_token": token, "decision": "confirmed"},
    )
    assert stranger.status_code == 404
    bad = app.client.post(
        path, data={"csrf_token": csrf, "action_token": token, "decision": "maybe"}
    )
    assert bad.status_code == 422
    assert not app.topic.pull(expect=0, timeout=1)


def test_of_two_decisions_from_one_page_the_later_one_stands(app: App) -> None:  # noqa: F811
    """Both decisions carry the page's form token, so they have one version (the token's
    second): the one made later must win, whichever event id sorts first."""
    app.deliver(customer_record())
    app.deliver(typed_contact())
    app.sign_in("anna")
    page = app.client.get("/customers/p12015550123")
    path = f"/customers/p12015550123/contacts/{CONTACT}"
    for decision in ("confirmed", "rejected"):
        data = {
            "csrf_token": hidden(page, "csrf_token"),
            "action_token": hidden(page, "action_token"),
            "decision": decision,
        }
        assert app.client.post(path, data=data).status_code == 303
    by_decision = {e["entity"]["decision"]: e for e in app.deliver_published(expect=2)}
    confirmed, rejected = by_decision["confirmed"], by_decision["rejected"]
    assert confirmed["version"] == rejected["version"]
    assert confirmed["occurred_at"] < rejected["occurred_at"]
    [row] = [
        r
        for r in app.crm.query("SELECT contact_id, identity FROM {ds}.contacts")
        if r["contact_id"] == CONTACT
    ]
    assert row["identity"] == "rejected"
