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
