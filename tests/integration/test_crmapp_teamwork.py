"""Managers work together in the CRM app (issue 22): assignment and "My orders", the saved
views, the list's days, sign-out on one device or everywhere, and the smaller defects.

Through functions-framework's test client against the emulators, as ``test_crmapp``:
each action is a CSRF-guarded POST that publishes one ``order.action`` event, which
crm_writer appends to ``order_actions``; the pages and the ``orders`` view read it back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import clear_caches
from tests.integration.test_crmapp import (  # noqa: F401 (the app fixture)
    NOW,
    App,
    app,
    hidden,
    shopify_order,
    soup,
    text,
)
from tests.integration.test_crmapp_actions import act, delivered, steps


def listed(crm_app: App, query: str = "") -> list[str]:
    page = soup(crm_app.client.get("/orders" + query))
    return [a["href"].rsplit("/", 1)[1] for a in page.select("#order-list a.row")]


@pytest.fixture
def kyiv() -> Iterator[None]:
    os.environ["SHOP_TIME_ZONE"] = "Europe/Kyiv"
    clear_caches()
    yield
    os.environ.pop("SHOP_TIME_ZONE", None)
    clear_caches()


# ---------------------------------------------------------------------- assignment
def test_a_manager_assigns_an_order_and_it_is_in_their_orders_with_who_and_when(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(9101, "+1 201-555-0201", minutes_ago=30))
    app.deliver(shopify_order(9102, "+1 201-555-0202", minutes_ago=20))
    app.sign_in("olga")
    page = soup(app.client.get("/orders/9101"))
    options = {o["value"]: o.get_text() for o in page.select("#assignee option")}
    assert options == {"": "Nobody", "anna": "Anna K", "olga": "Olga P (me)"}
    assert "Nobody yet." in page.find(id="assigned").get_text()

    answer = act(app, "9101", "assign", assignee="anna")
    assert answer.status_code == 303
    event = delivered(app)
    assert event["event_type"] == "order.action"
    assert (
        event["entity"].items()
        >= {
            "order_id": "9101",
            "kind": "assign",
            "assignee": "anna",
            "assignee_name": "Anna K",
            "manager": "olga",
            "manager_name": "Olga P",
        }.items()
    )
    assert any(s.startswith("assigned to Anna K") and "by Olga P" in s for s in steps(app, "9101"))
    page = soup(app.client.get("/orders/9101"))
    assert page.select_one("#assignee option[selected]")["value"] == "anna"
    assert page.find(id="assigned").get_text().startswith("Anna K, since ")

    assert listed(app, "?view=mine") == []  # olga's: nothing assigned to her
    row = soup(app.client.get("/orders")).select_one("#order-list a.row[href='/orders/9101']")
    assert "→ Anna K" in row.get_text()
    (assigned,) = app.crm.query(
        "SELECT assigned_to, assigned_to_name FROM {ds}.orders WHERE order_id = @id", id="9101"
    )
    assert assigned == {"assigned_to": "anna", "assigned_to_name": "Anna K"}

    app.client.post("/signout", data={"csrf_token": app.csrf("/orders")})
    app.sign_in("anna")
    mine = soup(app.client.get("/orders"))
    chip = mine.select_one("#view-chips a[data-view='mine']")
    assert chip.get_text() == "My orders"
    assert listed(app, "?view=mine") == ["9101"]
    assert app.client.get("/orders.json?view=mine").get_json()["orders"][0]["assigned_to"] == (
        "Anna K"
    )

    # Someone not in the list is refused in words; unassigning is "nobody".
    refused = act(app, "9101", "assign", assignee="mallory")
    assert refused.status_code == 422
    assert "Choose a manager from the list" in text(refused)
    assert act(app, "9101", "assign", assignee="").status_code == 303
    assert delivered(app)["entity"]["assignee"] is None
    assert listed(app, "?view=mine") == []
    # Without the CSRF token nothing is assigned.
    forged = app.client.post("/orders/9102/assign", data={"assignee": "anna"})
    assert forged.status_code == 403


def test_the_saved_views_hold_unpaid_orders_to_ship_and_to_call(app: App) -> None:  # noqa: F811
    app.deliver(shopify_order(9201, "+1 201-555-0211", minutes_ago=40))  # authorized
    app.deliver(shopify_order(9202, "+1 201-555-0212", minutes_ago=30, financial_status="paid"))
    app.deliver(shopify_order(9203, "+1 201-555-0213", minutes_ago=20, financial_status="paid"))
    app.sign_in("anna")
    assert act(app, "9202", "status", status="confirmed").status_code == 303
    delivered(app)
    assert act(app, "9203", "status", status="shipped").status_code == 303
    delivered(app)

    chips = {
        a.get_text(): a["href"] for a in soup(app.client.get("/orders")).select("#view-chips a")
    }
    assert list(chips) == ["Unpaid", "Ship today", "Needs a call", "My orders"]
    assert listed(app, "?view=unpaid") == ["9201"]  # authorized is not paid yet
    assert listed(app, "?view=ship") == ["9202"]  # confirmed, not shipped
    assert listed(app, "?view=call") == ["9201"]  # new, with a phone
    assert listed(app, "?status=authorized") == ["9201"]  # the status exists now
    on = soup(app.client.get("/orders?view=ship")).select_one("#view-chips a[aria-current]")
    assert on.get_text() == "Ship today" and on["href"] == "/orders"  # tapping again clears it


# ---------------------------------------------------------------------- the list's days
def test_the_list_is_grouped_by_day_in_the_shops_time_zone_with_count_and_revenue(
    app: App,  # noqa: F811
    kyiv: None,
) -> None:
    yesterday = (NOW - timedelta(days=1)).date()

    def at(hour: int, minute: int) -> str:
        return datetime(
            yesterday.year, yesterday.month, yesterday.day, hour, minute, tzinfo=NOW.tzinfo
        ).isoformat()

    # 23:30 and 23:40 UTC are after midnight in Kyiv (UTC+2): today there; 21:30 is not.
    app.deliver(shopify_order(9301, "+1 201-555-0221", minutes_ago=60, created_at=at(23, 30)))
    app.deliver(
        shopify_order(
            9302,
            "+1 201-555-0222",
            minutes_ago=50,
            created_at=at(23, 40),
            cancelled_at=at(23, 50),
            cancel_reason="customer",
        )
    )
    app.deliver(shopify_order(9303, "+1 201-555-0223", minutes_ago=40, created_at=at(21, 30)))
    app.sign_in("anna")
    page = soup(app.client.get("/orders"))
    heads = [
        (
            li["data-day"],
            li.select_one(".day-count").get_text(),
            li.select_one(".day-revenue").get_text(),
        )
        for li in page.select("#order-list li.day")
    ]
    today = (yesterday + timedelta(days=1)).isoformat()
    assert heads == [
        (today, "2 orders", "409.94 USD"),  # the cancelled order is counted, not summed
        (yesterday.isoformat(), "1 order", "409.94 USD"),
    ]
    # The refresh draws the same days.
    feed = app.client.get("/orders.json").get_json()["orders"]
    assert [(o["order_id"], o["day"]["key"], o["day"]["count"]) for o in feed] == [
        ("9302", today, 2),
        ("9301", today, 2),
        ("9303", yesterday.isoformat(), 1),
    ]


# ---------------------------------------------------------------------- signing out
def test_sign_out_ends_this_devices_session_and_sign_out_everywhere_ends_all(
    app: App,  # noqa: F811
) -> None:
    phone = App(app.client.application.test_client(), app.writer, app.topic, app.crm, app.prefix)
    app.sign_in("anna")
    phone.sign_in("anna")
    laptop_cookie = app.client.get_cookie("oh_session")
    assert laptop_cookie is not None

    app.client.post("/signout", data={"csrf_token": app.csrf("/orders")})
    assert app.client.get("/orders").status_code == 303  # this device: signed out
    app.client.set_cookie("oh_session", laptop_cookie.value)  # a copy of its cookie
    assert app.client.get("/orders").status_code == 303  # ends with it
    assert phone.client.get("/orders").status_code == 200  # the other device stays in

    app.sign_in("anna")
    page = soup(phone.client.get("/orders"))
    button = page.find(id="signout-everywhere")
    assert button["formaction"] == "/signout/everywhere"
    out = phone.client.post(
        "/signout/everywhere",
        data={"csrf_token": hidden(phone.client.get("/orders"), "csrf_token")},
    )
    assert out.status_code == 303 and out.headers["Location"] == "/signin"
    assert phone.client.get("/orders").status_code == 303
    assert app.client.get("/orders").status_code == 303  # every device
    app.sign_in("anna")  # signing in again works at once
    assert app.client.get("/orders").status_code == 200
    refused = app.client.post("/signout/everywhere", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert app.client.get("/orders").status_code == 200


# ---------------------------------------------------------------------- smaller defects
def test_chat_bot_orders_are_found_by_their_source_and_rows_name_sources_in_words(
    app: App,  # noqa: F811
) -> None:
    chat = [{"name": "orderhub_contact", "value": "7100000000000001"}]
    app.deliver(shopify_order(9401, "+1 201-555-0231", minutes_ago=30, note_attributes=chat))
    app.deliver(shopify_order(9402, "+1 201-555-0232", minutes_ago=20))
    app.sign_in("anna")
    assert listed(app, "?source=chatbot") == ["9401"]
    rows = soup(app.client.get("/orders")).select("#order-list a.row")
    sources = {
        a["href"].rsplit("/", 1)[1]: a.select(".sub")[1].get_text().split(" · ")[0] for a in rows
    }
    assert sources == {"9401": "Chat-bot", "9402": "Shopify"}
    feed = app.client.get("/orders.json").get_json()["orders"]
    assert {o["order_id"]: o["source_name"] for o in feed} == sources


def test_customer_hits_count_the_orders_their_page_shows_and_spent_is_paid_money(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(9501, "+1 201-555-0241", minutes_ago=40, financial_status="paid"))
    app.deliver(shopify_order(9502, "+1 201-555-0241", minutes_ago=30))  # authorized
    renamed: dict[str, Any] = {"first_name": "Roberta", "last_name": "Nonesuch"}
    app.deliver(
        shopify_order(
            9503,
            "+1 201-555-0241",
            minutes_ago=20,
            financial_status="pending",
            customer={"id": 1, "email": "bob.norman@hostmail.com", **renamed},
            billing_address=None,
            shipping_address=None,
        )
    )
    app.sign_in("anna")
    page = soup(app.client.get("/customers/p12015550241"))
    assert page.find(id="order-count").get_text() == "3"
    assert page.find(id="lifetime").get_text() == "409.94 USD"  # only the paid order
    for typed in ("Roberta", "550241", "+1 201 555 0241"):
        hits = soup(app.client.get("/customers", query_string={"q": typed}))
        (row,) = [a for a in hits.select("#customer-list a.row") if "p12015550241" in a["href"]]
        assert "3 order(s)" in row.get_text(), (typed, row.get_text())


def test_the_confirmation_shows_amounts_in_the_currencys_decimals(app: App) -> None:  # noqa: F811
    app.sign_in()
    page = app.client.get("/")
    form = {
        "csrf_token": hidden(page, "csrf_token"),
        "form_token": hidden(page, "form_token"),
        "action": "order",
        "customer_name": "Olena Koval",
        "phone": "201.555.0251",
        "address": "1 Main St",
        "delivery_method": "courier",
        "channel": "phone",
        "lines-0-title": "Tea",
        "lines-0-quantity": "2",
        "lines-0-price": "12,5",
    }
    saved = app.client.post("/", data=form)
    assert saved.status_code == 201
    assert soup(saved).find(id="order-total").get_text() == "25.00"
    assert "25.00" in soup(saved).select_one(".summary li").get_text()


# ---------------------------------------------------------------------- customers
def test_a_manager_comments_on_a_customer_and_the_page_shows_who_and_when(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(9601, "+1 201-555-0261", minutes_ago=30))
    app.sign_in("anna")
    page = app.client.get("/customers/p12015550261")
    assert "No comment yet." in text(page)
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "action_token": hidden(page, "action_token"),
        "text": "Prefers a call after 18:00",
    }
    answer = app.client.post("/customers/p12015550261/comments", data=data)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/customers/p12015550261?done=comment#comments"
    assert app.client.post("/customers/p12015550261/comments", data=data).status_code == 303
    first, again = app.deliver_published(expect=2)
    assert first["event_id"] == again["event_id"]  # a double tap is one comment
    assert first["event_type"] == "customer.comment" and first["source"] == "manual"
    assert (
        first["entity"].items()
        >= {
            "customer_key": "p12015550261",
            "text": "Prefers a call after 18:00",
            "manager": "anna",
            "manager_name": "Anna K",
        }.items()
    )
    shown = soup(app.client.get("/customers/p12015550261")).select("#customer-comments li")
    assert [li.get_text(" ", strip=True).split(" · ")[-1] for li in shown] == ["by Anna K"]
    assert shown[0].strong.get_text() == "Prefers a call after 18:00"

    empty = app.client.post("/customers/p12015550261/comments", data={**data, "text": " "})
    assert empty.status_code == 422 and "Write the comment first" in text(empty)
    forged = app.client.post("/customers/p12015550261/comments", data={"text": "x"})
    assert forged.status_code == 403
    assert app.client.post("/customers/p19999999999/comments", data=data).status_code == 404
