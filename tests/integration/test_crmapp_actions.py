"""A manager works an order in the CRM app (issue 22): the pipeline, paid, comments.

Through functions-framework's test client against the emulators: each action is a
CSRF-guarded POST that publishes one ``order.action`` event; crm_writer appends it to
``order_actions``; the order's page (timeline) and the ``orders`` view show it, with who.
"""

from __future__ import annotations

import json
from typing import Any

from tests.integration.test_crmapp import (  # noqa: F401 (the app fixture)
    App,
    app,
    hidden,
    shopify_order,
    soup,
    text,
)


def act(crm_app: App, order_id: str, path: str, **fields: str) -> Any:
    page = crm_app.client.get(f"/orders/{order_id}")
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "action_token": hidden(page, "action_token"),
        **fields,
    }
    return crm_app.client.post(f"/orders/{order_id}/{path}", data=data)


def delivered(crm_app: App) -> dict[str, Any]:
    (event,) = crm_app.deliver_published(expect=1)
    return event


def steps(crm_app: App, order_id: str) -> list[str]:
    page = crm_app.client.get(f"/orders/{order_id}")
    return [li.get_text(" ", strip=True) for li in soup(page).select("#timeline li")]


def test_a_manager_confirms_comments_on_and_ships_an_order_and_everyone_sees_who(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(7001, "+1 201-555-0142", minutes_ago=30))
    app.sign_in("anna")
    page = app.client.get("/orders/7001")
    assert soup(page).find(id="pipeline-status").get_text() == "New"

    answer = act(app, "7001", "status", status="confirmed")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/orders/7001?done=confirmed")
    confirmed = delivered(app)
    assert confirmed["event_type"] == "order.action" and confirmed["source"] == "manual"
    assert (
        confirmed["entity"].items()
        >= {
            "order_id": "7001",
            "order_source": "shopify",
            "kind": "status",
            "status": "confirmed",
            "manager": "anna",
            "manager_name": "Anna K",
        }.items()
    )

    assert act(app, "7001", "comments", text="Customer asks for a gift wrap").status_code == 303
    delivered(app)
    shipped = act(
        app,
        "7001",
        "status",
        status="shipped",
        tracking_number="RR123456785PT",
        tracking_company="CTT",
    )
    assert shipped.status_code == 303
    assert delivered(app)["entity"]["tracking_number"] == "RR123456785PT"

    said = steps(app, "7001")
    assert said[0].startswith("created")
    assert any(s.startswith("confirmed") and "by Anna K" in s for s in said)
    assert any("comment: Customer asks for a gift wrap" in s and "by Anna K" in s for s in said)
    assert any(s.startswith("shipped, CTT RR123456785PT") and "by Anna K" in s for s in said)
    page = app.client.get("/orders/7001")
    assert soup(page).find(id="pipeline-status").get_text() == "Shipped"

    (row,) = app.crm.query(
        "SELECT pipeline_status, pipeline_by, pipeline_by_name, tracking_number, tracking_company"
        " FROM {ds}.orders WHERE order_id = @id",
        id="7001",
    )
    assert row == {
        "pipeline_status": "shipped",
        "pipeline_by": "anna",
        "pipeline_by_name": "Anna K",
        "tracking_number": "RR123456785PT",
        "tracking_company": "CTT",
    }
    listed = soup(app.client.get("/orders"))
    assert "shipped" in listed.select_one("#order-list a.row .stage-chip").get_text()
    feed = json.loads(app.client.get("/orders.json").get_data(as_text=True))
    assert feed["orders"][0]["pipeline"] == "shipped"
    assert feed["orders"][0]["phone"]  # the refresh keeps the row's phone


def test_a_double_tap_is_one_action_and_bad_input_is_answered_in_words(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(7002, "+1 201-555-0143", minutes_ago=30))
    app.sign_in("anna")
    page = app.client.get("/orders/7002")
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "action_token": hidden(page, "action_token"),
        "status": "packed",
    }
    assert app.client.post("/orders/7002/status", data=data).status_code == 303
    assert app.client.post("/orders/7002/status", data=data).status_code == 303
    first, second = (json.loads(m.data) for m in app.topic.pull(expect=2))
    assert first["event_id"] == second["event_id"]  # consumers collapse the repeat

    refused = act(app, "7002", "status", status="cancelled")  # no reason given
    assert refused.status_code == 422
    assert "Say why the order is cancelled" in text(refused)
    assert act(app, "7002", "status", status="lost").status_code == 422
    assert act(app, "7002", "comments", text="   ").status_code == 422
    forged = app.client.post(
        "/orders/7002/status",
        data={
            "csrf_token": "forged",
            "action_token": hidden(page, "action_token"),
            "status": "packed",
        },
    )
    assert forged.status_code == 403
    assert app.topic.pull(expect=0, timeout=1.0) == []


def test_a_cancelled_order_takes_comments_only_and_paid_shows_in_the_view(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(7003, "+1 201-555-0144", minutes_ago=30, financial_status="pending"))
    app.sign_in("anna")
    assert act(app, "7003", "paid").status_code == 303
    assert delivered(app)["entity"]["kind"] == "paid"
    (row,) = app.crm.query("SELECT status FROM {ds}.orders WHERE order_id = @id", id="7003")
    assert row["status"] == "paid"
    assert (
        act(app, "7003", "status", status="cancelled", cancel_reason="customer").status_code == 303
    )
    delivered(app)
    assert soup(app.client.get("/orders/7003")).find(id="pipeline-status").get_text() == "Cancelled"
    refused = act(app, "7003", "status", status="confirmed")
    assert refused.status_code == 422 and "takes comments only" in text(refused)
    assert act(app, "7003", "comments", text="refund by bank transfer").status_code == 303


def test_polling_runs_no_bigquery_job_while_nothing_changes(
    app: App,  # noqa: F811
) -> None:
    from orderhub.order_form.wiring import wiring

    app.deliver(shopify_order(7101, "+1 201-555-0150", minutes_ago=30))
    app.sign_in("anna")
    page = soup(app.client.get("/orders"))
    marker = page.find(id="live")["data-marker"]
    assert marker
    runner = wiring().runner
    before = runner.jobs
    for _ in range(5):  # five polls, 75 s of an open phone: nothing changed
        answer = json.loads(
            app.client.get("/orders.json", query_string={"marker": marker}).get_data(True)
        )
        assert answer == {"unchanged": True, "marker": marker}
    assert runner.jobs == before

    app.deliver(shopify_order(7102, "+1 201-555-0151", minutes_ago=1))  # crm_writer moves it
    moved = json.loads(
        app.client.get("/orders.json", query_string={"marker": marker}).get_data(True)
    )
    assert moved["marker"] != marker
    assert [o["order_id"] for o in moved["orders"]][:2] == ["7102", "7101"]
    assert runner.jobs == before + 1
    # A manager's action moves it too: the list shows the new pipeline step.
    assert act(app, "7101", "status", status="packed").status_code == 303
    delivered(app)
    again = json.loads(
        app.client.get("/orders.json", query_string={"marker": moved["marker"]}).get_data(True)
    )
    assert {o["order_id"]: o["pipeline"] for o in again["orders"]}["7101"] == "packed"


def test_times_in_the_shops_zone_readable_sources_and_status_chips(
    app: App,  # noqa: F811
) -> None:
    import os
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from tests.conftest import clear_caches
    from tests.integration.test_crmapp import NOW

    os.environ["SHOP_TIME_ZONE"] = "Europe/Kyiv"
    clear_caches()
    app.deliver(shopify_order(8401, "+1 201-555-0160", minutes_ago=30))
    app.deliver(shopify_order(8402, "+1 201-555-0161", minutes_ago=20))
    app.sign_in("anna")
    assert act(app, "8401", "status", status="packed").status_code == 303
    delivered(app)

    listed = soup(app.client.get("/orders"))
    row = listed.select_one("#order-list a.row[href='/orders/8401']").get_text(" ", strip=True)
    kyiv = (NOW - timedelta(minutes=30)).astimezone(ZoneInfo("Europe/Kyiv"))
    assert f"Shopify · {kyiv:%Y-%m-%d %H:%M %Z}" in row  # EET or EEST, not UTC
    # The filters are folded behind one button; the status chips lead to each step.
    assert listed.select_one("details#more-filters").get("open") is None
    chips = {a.get_text(): a["href"] for a in listed.select("#status-chips a")}
    assert chips["Packed"] == "/orders?pipeline=packed"
    packed = soup(app.client.get(chips["Packed"]))
    assert [a["href"] for a in packed.select("#order-list a.row")] == ["/orders/8401"]
