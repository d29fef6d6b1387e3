"""Issue 22, search: the Kiire customer (a Portuguese number, in a US shop) is found by
her number typed internationally, nationally, by its last six and its last four digits;
an order is found in the list by the customer's e-mail."""

from __future__ import annotations

from tests.integration.test_crmapp import (  # noqa: F401 (the app fixture)
    App,
    app,
    shopify_order,
    soup,
)


def test_a_customer_is_found_by_her_last_digits_and_an_order_by_e_mail(
    app: App,  # noqa: F811
) -> None:
    app.deliver(shopify_order(8201, "+351912345678", minutes_ago=30, email="Ana.Kiire@Example.com"))
    app.deliver(shopify_order(8202, "+12015550199", minutes_ago=20))
    app.sign_in()

    for typed in ("+351 912 345 678", "912 345 678", "345678", "5678", "56 78"):
        hits = soup(app.client.get("/customers", query_string={"q": typed}))
        keys = [a["href"] for a in hits.select("#customer-list a.row")]
        assert keys == ["/customers/p351912345678"], typed
    assert not soup(app.client.get("/customers?q=678")).select("#customer-list a.row")

    found = soup(app.client.get("/orders", query_string={"q": "ana.kiire@example.com"}))
    assert [a.find("strong").get_text() for a in found.select("#order-list a.row")] == ["#8201"]


def test_the_order_and_customer_offer_call_messenger_whatsapp_and_viber_by_name(
    app: App,  # noqa: F811
) -> None:
    from tests.integration.test_crmapp import NOW, SHOP

    app.deliver(shopify_order(8301, "+351 912 345 679", minutes_ago=30))
    at = NOW.isoformat()
    contact = {
        "event_id": "touch-7100000000000001",
        "event_type": "contact.touched",
        "source": "manychat",
        "shop": SHOP,
        "occurred_at": at,
        "version": 1,
        "ingested_at": at,
        "contact_id": "7100000000000001",
        "name": "Ana Kiire",
        "phone": "+351912345679",
        "phone_valid": True,
        "live_chat_url": "https://app.manychat.com/fb123/chat/7100000000000001",
    }
    table = f"{app.crm.client.project}.{app.crm.dataset}.contact_events"
    assert not app.crm.client.insert_rows_json(table, [contact])
    app.sign_in()

    for path in ("/orders/8301", "/customers/p351912345679"):
        buttons = soup(app.client.get(path)).select("#contact-links a")
        assert [(a.get_text(), a["href"]) for a in buttons] == [
            ("Call +351912345679", "tel:+351912345679"),
            ("Messenger · Ana Kiire", contact["live_chat_url"]),
            ("WhatsApp", "https://wa.me/351912345679"),
            ("Viber", "viber://chat?number=%2B351912345679"),
        ], path
    assert (
        "7100000000000001"
        not in soup(app.client.get("/customers/p351912345679")).select_one("main").get_text()
    )
