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
