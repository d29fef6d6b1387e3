"""Payment links (issue 22 item 7), through functions-framework's test client with the
Shopify Admin stand-in (every query checked against the 2026-10 schema): the link page
offers Share (Web Share API), SMS and WhatsApp with the customer's number; ``/links``
lists the links nobody has paid (Shopify's open drafts with our tag) with their age, and
a paid one (the draft completed) leaves the list.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from tests.integration.test_order_form import (  # noqa: F401 (fixtures)
    Form,
    form,
    order_values,
    shopify_admin,
    soup,
)


def _make_link(form: Form, phone: str) -> str:  # noqa: F811
    page = form.open()
    answer = form.client.post("/", data=order_values(page, action="link", phone=phone))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(soup(answer).find(id="invoice-url")["value"])


def test_the_link_page_shares_it_by_sheet_sms_and_whatsapp(form: Form) -> None:  # noqa: F811
    form.sign_in()
    page = form.open()
    answer = form.client.post("/", data=order_values(page, action="link", phone="201-555-0123"))
    page_soup = soup(answer)
    url = page_soup.find(id="invoice-url")["value"]
    share = page_soup.select_one("[data-share]")
    assert share is not None and share["data-url"] == url and url in share["data-text"]
    sms = urlsplit(page_soup.find(id="send-sms")["href"])
    assert sms.scheme == "sms" and sms.path == "+12015550123"
    assert url in parse_qs(sms.query)["body"][0]
    whatsapp = urlsplit(page_soup.find(id="send-whatsapp")["href"])
    assert (whatsapp.scheme, whatsapp.netloc, whatsapp.path) == ("https", "wa.me", "/12015550123")
    assert url in unquote(parse_qs(whatsapp.query)["text"][0])
    assert page_soup.find("label", attrs={"for": "invoice-url"}) is not None
    assert page_soup.find("script", src=lambda s: bool(s and s.endswith("/assets/share.js")))
    assert form.client.get("/assets/share.js").status_code == 200


def test_unpaid_links_are_listed_with_their_age_until_paid(form: Form) -> None:  # noqa: F811
    form.sign_in()
    first = _make_link(form, "201-555-0123")
    second = _make_link(form, "201-555-0188")
    # A draft someone made in Shopify's admin (no orderhub tag) is not ours to list.
    form.admin.store.add(
        "draft_orders",
        {
            **form.admin.store.all("draft_orders")[0],
            "id": "gid://shopify/DraftOrder/9",
            "legacyResourceId": "9",
            "name": "#D9",
            "tags": [],
        },
    )
    listing = form.client.get("/links")
    assert listing.status_code == 200
    rows = soup(listing).select("#unpaid-links li")
    shown = {
        r.select_one("[data-share]")["data-url"]: " ".join(r.get_text(" ").split()) for r in rows
    }
    assert set(shown) == {first, second}
    assert all("0 min old" in text for text in shown.values())
    assert "+12015550188" in shown[second] and "made by anna" in shown[second]
    # The customer pays the first link: Shopify completes its draft; it leaves the list.
    paid = next(d for d in form.admin.store.all("draft_orders") if d["invoiceUrl"] == first)
    from devstack.standins.shopify_admin import complete_draft

    assert complete_draft(form.admin.store, paid["legacyResourceId"]) is not None
    rows = soup(form.client.get("/links")).select("#unpaid-links li")
    assert [r.select_one("[data-share]")["data-url"] for r in rows] == [second]


def test_the_unpaid_links_query_is_valid_against_shopifys_schema() -> None:
    from devstack.standins import shopify_schema
    from orderhub.order_form import payment_links

    variables = {"first": payment_links.LIST_SIZE, "query": "status:open tag:orderhub"}
    assert shopify_schema.check(payment_links.OPEN_LINKS, variables, None) is None
