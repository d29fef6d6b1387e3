"""A manager duplicates an order and edits its address and note (issue 22 item 1).

Through functions-framework's test client against the emulators: "Duplicate" opens the
order form prefilled from the order, and only Save publishes (a new order, a new id); an
edit is one CSRF-guarded ``order.action`` of kind ``edit`` that crm_writer appends to
``order_actions``, and the order's page and the ``orders`` view show the edited address
and note over the order's own versions.
"""

from __future__ import annotations

from typing import Any

from tests.integration.test_crmapp import (  # noqa: F401 (the app fixture)
    App,
    app,
    hidden,
    shopify_order,
    soup,
    text,
)
from tests.integration.test_crmapp_actions import act, delivered, steps


def form_data(page: Any) -> dict[str, str]:
    """What the browser would send for the page's order form, as rendered."""
    found = soup(page).find("form", id="order-form")
    assert found is not None
    data: dict[str, str] = {}
    for field in found.find_all(["input", "textarea", "select"]):
        name = field.get("name")
        if not name or field.get("type") in ("submit", "button"):
            continue
        if field.name == "select":
            chosen = field.find("option", selected=True)
            data[name] = str(chosen["value"]) if chosen else ""
        elif field.get("type") == "radio":
            if field.has_attr("checked"):
                data[name] = str(field.get("value") or "")
        elif field.name == "textarea":
            data[name] = field.get_text()
        else:
            data[name] = str(field.get("value") or "")
    return data


def test_duplicate_opens_the_form_with_the_items_and_save_makes_a_new_order(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(7301, "+1 201-555-0142", minutes_ago=30))
    app.sign_in("anna")
    page = app.client.get("/orders/7301")
    link = soup(page).find(id="duplicate-order")
    assert link is not None and link["href"].endswith("/orders/7301/duplicate")

    copy = app.client.get("/orders/7301/duplicate")
    assert copy.status_code == 200
    assert "Copy of order #7301" in text(copy)
    data = form_data(copy)
    titles = [data[k] for k in sorted(data) if k.startswith("lines-") and k.endswith("-title")]
    assert titles.count("IPod Nano - 8gb") == 3
    skus = {data[k] for k in data if k.startswith("lines-") and k.endswith("-sku")}
    assert {"IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"} <= skus
    assert data["email"] == "bob.norman@hostmail.com"
    assert "Chestnut Street 92" in data["address"] and "Louisville" in data["address"]
    assert data["phone"]
    assert app.topic.pull(expect=0, timeout=1.0) == []  # nothing published before Save

    data["delivery_method"] = data.get("delivery_method") or "courier"
    saved = app.client.post("/", data=data)
    assert saved.status_code == 201, text(saved)
    (created,) = app.deliver_published(expect=1)
    assert created["event_type"] == "order.created"
    new_id = created["entity"]["order_id"]
    assert new_id != "7301"
    lines = created["entity"]["line_items"]
    assert [(li["sku"], li["quantity"], li["unit_price"]["amount"]) for li in lines] == [
        ("IPOD2008GREEN", 1, "199"),
        ("IPOD2008RED", 1, "199"),
        ("IPOD2008BLACK", 1, "199"),
    ]
    assert app.client.get(f"/orders/{new_id}").status_code == 200
    assert app.client.get("/orders/7301").status_code == 200  # the original is untouched


def test_an_edit_of_address_and_note_is_one_action_shown_over_the_orders_versions(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(7302, "+1 201-555-0143", minutes_ago=30, note="ring twice"))
    app.sign_in("anna")
    page = app.client.get("/orders/7302")
    assert soup(page).find("form", id="items-form") is not None  # items are edited here too
    form = soup(page).find("form", id="edit-form")
    assert form is not None
    assert form.find("input", attrs={"name": "ship_address1"})["value"] == "Chestnut Street 92"
    assert form.find("textarea", attrs={"name": "note"}).get_text() == "ring twice"

    new_address = {
        "ship_name": "Bob Norman",
        "ship_address1": "Rua Augusta 10",
        "ship_address2": "3 esq",
        "ship_city": "Lisboa",
        "ship_zip": "1100-048",
        "ship_country_code": "pt",
        "ship_phone": "+351 912 345 678",
    }
    answer = act(app, "7302", "edit", **new_address, note="leave at the door")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/orders/7302?done=edit")
    event = delivered(app)
    assert event["event_type"] == "order.action"
    entity = event["entity"]
    assert entity["kind"] == "edit" and entity["manager"] == "anna"
    assert entity["note"] == "leave at the door"
    assert entity["shipping_address"] == {
        "name": "Bob Norman",
        "address1": "Rua Augusta 10",
        "address2": "3 esq",
        "city": "Lisboa",
        "zip": "1100-048",
        "country_code": "PT",
        "phone": "+351 912 345 678",
    }

    # Shopify's next version of the order (its own address and note) does not undo the edit.
    app.deliver(
        shopify_order(7302, "+1 201-555-0143", minutes_ago=30, updated_minutes_ago=0, note="x")
    )
    shown = text(app.client.get("/orders/7302"))
    assert "Rua Augusta 10, 3 esq, Lisboa 1100-048" in shown
    assert "Note: leave at the door" in shown
    assert "Chestnut Street" not in shown.split("Timeline")[0]
    assert any("edited" in s and "by Anna K" in s for s in steps(app, "7302"))

    (row,) = app.crm.query(
        "SELECT shipping_address, note, edited_by FROM {ds}.orders WHERE order_id = @id",
        id="7302",
    )
    assert row["shipping_address"]["address1"] == "Rua Augusta 10"
    assert row["shipping_address"]["country_code"] == "PT"
    assert row["note"] == "leave at the door" and row["edited_by"] == "anna"

    # The note alone: the address stays as edited; a double tap is one action.
    page = app.client.get("/orders/7302")
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "action_token": hidden(page, "action_token"),
        "note": "",
    }
    assert app.client.post("/orders/7302/edit", data=data).status_code == 303
    assert app.client.post("/orders/7302/edit", data=data).status_code == 303
    events = app.deliver_published(expect=2)
    assert len({e["event_id"] for e in events}) == 1
    (row,) = app.crm.query(
        "SELECT shipping_address, note FROM {ds}.orders WHERE order_id = @id", id="7302"
    )
    assert row["shipping_address"]["address1"] == "Rua Augusta 10" and row["note"] is None

    # Bad input is answered in words and publishes nothing.
    refused = act(app, "7302", "edit", ship_city="Porto", note="")
    assert refused.status_code == 422 and "street and number" in text(refused)
    refused = act(app, "7302", "edit", ship_address1="Rua 1", ship_country_code="Portugal")
    assert refused.status_code == 422 and "two-letter code" in text(refused)
    assert app.topic.pull(expect=0, timeout=1.0) == []
