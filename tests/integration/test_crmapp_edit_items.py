"""A manager edits an order's items on its page (issue 22 item 1, "edit items").

Through functions-framework's test client against the emulators: the Items card's form
posts quantities (0 removes a line) and items from the catalogue; Save is one CSRF-guarded
``order.action`` of kind ``edit`` carrying every line, priced from the catalogue (never from
the browser), with the recomputed subtotal and total. crm_writer appends it to
``order_actions``; the order's page, the timeline, the ``orders`` view and the analysts'
revenue (``daily_sales``) show the edited lines and total, counted once.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal

from tests.integration.test_crmapp import (  # noqa: F401 (the app fixture)
    SHOP,
    App,
    app,
    hidden,
    shopify_order,
    soup,
    text,
)
from tests.integration.test_crmapp_actions import act, delivered, steps

PINK = "808950810"  # IPOD2008PINK in the product fixture, 199.00


def catalogue(crm_app: App) -> None:
    """The product fixture in the CRM's ``products`` view (what the picker searches)."""
    from devstack.shopify_sender import fixture
    from orderhub import gcp
    from orderhub.sinks.bigquery import BigQueryInserter, write_event
    from orderhub.sources.shopify import Delivery, normalise

    body = json.dumps(fixture("product")).encode()
    now = datetime.now(UTC)
    delivery = Delivery("products/create", SHOP, "w-product", None, None, now)
    raw = {"raw_id": "r-product", "kind": "shopify_webhook", "received_at": now.isoformat()}
    client = gcp.bigquery_client(
        os.environ["GOOGLE_CLOUD_PROJECT"], os.environ["BIGQUERY_EMULATOR_HOST"]
    )
    write_event(
        normalise(delivery, body, {**raw, "sha256": ""}),  # type: ignore[arg-type]
        inserter=BigQueryInserter(client, crm_app.crm.dataset),
        now=lambda: now,
    )


def test_an_edit_of_items_is_one_action_and_every_reader_sees_the_new_lines_and_total(
    app: App,  # noqa: F811
) -> None:
    # The fixture order: three iPods at 199.00 (GREEN, RED, BLACK), subtotal 398.00,
    # total 409.94.
    app.deliver(shopify_order(7401, "+1 201-555-0151", minutes_ago=30))
    catalogue(app)
    app.sign_in("anna")
    page = app.client.get("/orders/7401")
    form = soup(page).find("form", id="items-form")
    assert form is not None
    assert [i["value"] for i in form.select("input[data-qty]")] == ["1", "1", "1"]

    # GREEN to 2, BLACK removed, PINK added: the browser's price for PINK is ignored.
    answer = act(
        app,
        "7401",
        "items",
        **{"qty-0": "2", "qty-1": "1", "qty-2": "0"},
        **{"add-0-variant_id": PINK, "add-0-quantity": "1", "add-0-price": "0.01"},
    )
    assert answer.status_code == 303, text(answer)
    assert answer.headers["Location"].startswith("/orders/7401?done=items")
    event = delivered(app)
    entity = event["entity"]
    assert entity["kind"] == "edit" and entity["manager"] == "anna"
    assert entity.get("note") is None and entity.get("shipping_address") is None
    lines = [(li["sku"], li["quantity"], li["unit_price"]["amount"]) for li in entity["line_items"]]
    assert lines == [
        ("IPOD2008GREEN", 2, "199.00"),
        ("IPOD2008RED", 1, "199.00"),
        ("IPOD2008BLACK", 0, "199.00"),
        ("IPOD2008PINK", 1, "199.00"),
    ]
    assert entity["line_items"][3]["variant_id"] == PINK
    assert entity["line_items"][3]["line_id"] is None  # added
    assert entity["line_items"][0]["line_id"] == "466157049"  # Shopify's line
    assert entity["subtotal"]["amount"] == "597.00"
    assert entity["total"]["amount"] == "608.94"

    # A later version of the order from Shopify does not undo the edit.
    app.deliver(shopify_order(7401, "+1 201-555-0151", minutes_ago=30, updated_minutes_ago=0))
    shown = soup(app.client.get("/orders/7401"))
    rows = [
        [td.get_text(" ", strip=True) for td in tr.find_all("td")]
        for tr in shown.select("table.items tbody tr")
    ]
    assert [(r[0].split()[-1], r[1]) for r in rows] == [
        ("IPOD2008GREEN", "2"),
        ("IPOD2008RED", "1"),
        ("IPOD2008PINK", "1"),
    ]
    assert shown.find(id="order-total").get_text(strip=True) == "608.94 USD"
    assert "Items edited by Anna K" in shown.find(id="items-edited").get_text(" ", strip=True)
    said = [s for s in steps(app, "7401") if "items edited" in s]
    assert len(said) == 1 and "by Anna K" in said[0] and "2 × IPod Nano - 8gb" in said[0]
    assert "total 608.94" in said[0]

    (row,) = app.crm.query(
        "SELECT line_items, subtotal, total, edited_by, note FROM {ds}.orders WHERE order_id = @id",
        id="7401",
    )
    assert [(li["sku"], li["quantity"]) for li in row["line_items"]] == [
        ("IPOD2008GREEN", 2),
        ("IPOD2008RED", 1),
        ("IPOD2008PINK", 1),
    ]
    assert (row["subtotal"], row["total"]) == (Decimal("597"), Decimal("608.94"))
    assert row["edited_by"] == "anna"
    assert row["note"] is None  # an edit of items leaves the note alone (the fixture has none)
    (sales,) = app.crm.query("SELECT orders, gross FROM {ds}.daily_sales")
    assert (sales["orders"], sales["gross"]) == (1, Decimal("608.94"))  # counted once
    lines_view = app.crm.query(
        "SELECT sku, quantity FROM {ds}.order_lines WHERE order_id = @id ORDER BY sku", id="7401"
    )
    assert [(r["sku"], r["quantity"]) for r in lines_view] == [
        ("IPOD2008GREEN", 2),
        ("IPOD2008PINK", 1),
        ("IPOD2008RED", 1),
    ]


def test_a_double_tap_is_one_edit_and_bad_input_is_refused_in_words(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(7402, "+1 201-555-0152", minutes_ago=30, note="ring twice"))
    catalogue(app)
    app.sign_in("anna")
    page = app.client.get("/orders/7402")
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "action_token": hidden(page, "action_token"),
        "qty-0": "3",
    }
    assert app.client.post("/orders/7402/items", data=data).status_code == 303
    assert app.client.post("/orders/7402/items", data=data).status_code == 303
    events = app.deliver_published(expect=2)
    assert len({e["event_id"] for e in events}) == 1
    (row,) = app.crm.query("SELECT total, note FROM {ds}.orders WHERE order_id = @id", id="7402")
    assert row["total"] == Decimal("807.94") and row["note"] == "ring twice"

    refusals = {
        "qty-0": ("1.5", "whole number from 0 to 999"),
        "qty-1": ("1000", "whole number from 0 to 999"),
        "qty-2": ("-1", "whole number from 0 to 999"),
    }
    for field, (value, words) in refusals.items():
        refused = act(app, "7402", "items", **{field: value})
        assert refused.status_code == 422 and words in text(refused), field
    refused = act(app, "7402", "items", **{"qty-0": "0", "qty-1": "0", "qty-2": "0"})
    assert refused.status_code == 422 and "keeps at least one item" in text(refused)
    refused = act(app, "7402", "items", **{"add-0-variant_id": "999", "add-0-quantity": "1"})
    assert refused.status_code == 422 and "not in the catalogue" in text(refused)
    refused = act(app, "7402", "items", **{"qty-0": "3"})
    assert refused.status_code == 422 and "Nothing changed" in text(refused)
    # The form comes back open, with what was typed.
    refused = act(app, "7402", "items", **{"qty-0": "abc"})
    again = soup(refused).find("details", id="edit-items")
    assert again is not None and again.has_attr("open")
    assert again.find("input", attrs={"name": "qty-0"})["value"] == "abc"

    # A cancelled order takes no edit.
    assert act(app, "7402", "status", status="cancelled", cancel_reason="customer").status_code
    delivered(app)
    assert soup(app.client.get("/orders/7402")).find("form", id="items-form") is None
    refused = act(app, "7402", "items", **{"qty-0": "1"})
    assert refused.status_code == 422 and "cancelled" in text(refused)
    assert app.topic.pull(expect=0, timeout=1.0) == []
