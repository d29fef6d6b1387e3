"""The bot's catalogue: Dynamic Block v2 cards within Messenger's limits, links that carry
the contact through Shopify's checkout, and the short-lived product cache."""

from __future__ import annotations

import hmac
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from devstack.standins.manychat import validate_dynamic_block
from orderhub.chatbot import catalogue
from orderhub.chatbot.catalogue import Links, Product, ProductCache, Request, Variant
from orderhub.chatbot.contacts import authentic
from orderhub.errors import PoisonMessage, TransientError
from orderhub.sources.shopify import chat_contact, order_entity
from tests.conftest import load_json

SECRET = "s3cret-s3cret-s3cret"
LINKS = Links(
    store_url="https://shop.example",
    currency="EUR",
    callback_url="https://fn.example/catalogue",
    callback_key=catalogue.callback_key(SECRET),
)
CONTACT = "1324564712345678901"


def product(n: int, *, stock: int | None = 5, status: str | None = "active", **kw: Any) -> Product:
    fields: dict[str, Any] = {
        "product_id": str(1000 + n),
        "title": f"Product {n:02d}",
        "handle": f"product-{n}",
        "image_url": f"https://cdn.example/{n}.png",
        "product_type": "Tea",
        "vendor": "Leaf",
        "status": status,
        "tags": ("green",),
        "variants": (Variant(str(5000 + n), "Default", f"SKU{n}", Decimal("9.5"), stock),),
    }
    fields.update(kw)
    return Product(**fields)


def ask(query: str = "", collection: str = "", page: int = 1) -> Request:
    return Request(CONTACT, query, collection, page)


def cards(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for m in answer["content"]["messages"] if m["type"] == "cards" for e in m["elements"]]


def more(answer: dict[str, Any]) -> dict[str, Any] | None:
    for message in answer["content"]["messages"]:
        for button in message.get("buttons") or []:
            if button["type"] == "dynamic_block_callback":
                return button  # type: ignore[no-any-return]
    return None


def test_empty_result_is_a_friendly_text_that_validates():
    for answer in (
        catalogue.reply([], ask(), LINKS),
        catalogue.reply([product(1)], ask("nothing-like-this"), LINKS),
        catalogue.reply([product(1, status="draft")], ask(), LINKS),
    ):
        assert validate_dynamic_block(answer) == []
        [message] = answer["content"]["messages"]
        assert message["type"] == "text" and cards(answer) == []
    assert (
        "nothing-like-this"
        in catalogue.reply([product(1)], ask("nothing-like-this"), LINKS)["content"]["messages"][0][
            "text"
        ]
    )


def test_one_page_validates_and_has_no_more_button():
    answer = catalogue.reply([product(n) for n in range(3)], ask(), LINKS)
    assert validate_dynamic_block(answer) == []
    assert [c["title"] for c in cards(answer)] == ["Product 00", "Product 01", "Product 02"]
    assert more(answer) is None
    first = cards(answer)[0]
    assert first["subtitle"] == "9.50 EUR · in stock"
    assert first["image_url"] == "https://cdn.example/0.png"


def test_several_pages_each_validate_and_more_walks_through_all_products_once():
    products = [product(n, title="Very long name " * 8 + str(n)) for n in range(23)]
    seen: list[str] = []
    request = ask()
    pages = 0
    while True:
        answer = catalogue.reply(products, request, LINKS)
        pages += 1
        assert validate_dynamic_block(answer) == []
        shown = cards(answer)
        assert 1 <= len(shown) <= 10
        assert all(len(c["title"]) <= 80 and len(c["subtitle"]) <= 80 for c in shown)
        seen += [c["buttons"][0]["url"] for c in shown]
        button = more(answer)
        if button is None:
            break
        # ManyChat sends the callback's payload back with the callback's headers.
        # Issue 21: its own token (an HMAC of the page asked for), never the bot's secret.
        assert SECRET not in json.dumps(answer)
        assert list(button["headers"]) == [catalogue.CALLBACK_HEADER]
        assert button["url"] == LINKS.callback_url
        request = catalogue.parse_request(json.dumps(button["payload"]).encode())
        token = button["headers"][catalogue.CALLBACK_HEADER]
        assert catalogue.callback_valid(LINKS.callback_key, request, token)
        other = catalogue.Request(request.contact_id, request.query, "other", request.page)
        assert not catalogue.callback_valid(LINKS.callback_key, other, token)
        assert request.contact_id == CONTACT
    assert pages == 3
    assert len(seen) == len(set(seen)) == 23


def test_the_validator_catches_what_messenger_refuses():
    good = catalogue.reply([product(1)], ask(), LINKS)
    long_title = json.loads(json.dumps(good))
    long_title["content"]["messages"][0]["elements"][0]["title"] = "x" * 81
    eleven = json.loads(json.dumps(good))
    eleven["content"]["messages"][0]["elements"] *= 11
    http_callback = catalogue.reply([product(n) for n in range(11)], ask(), LINKS)
    more_button = more(http_callback)
    assert more_button is not None
    more_button["url"] = "http://fn.example/catalogue"
    assert any("title" in p for p in validate_dynamic_block(long_title))
    assert any("1 to 10 cards" in p for p in validate_dynamic_block(eleven))
    assert any("HTTPS" in p for p in validate_dynamic_block(http_callback))
    assert validate_dynamic_block({"version": "v1", "content": {}}) != []


def test_in_stock_first_then_by_title_and_only_active_products():
    products = [
        product(1, stock=0),
        product(2, stock=None),  # not tracked: can be bought
        product(3, status="archived"),
        product(4, stock=3),
    ]
    answer = catalogue.reply(products, ask(), LINKS)
    assert [c["title"] for c in cards(answer)] == ["Product 02", "Product 04", "Product 01"]
    sold_out = cards(answer)[2]
    assert sold_out["subtitle"] == "9.50 EUR · out of stock"
    assert [b["caption"] for b in sold_out["buttons"]] == ["View"]  # nothing to buy


def test_search_words_and_collection_narrow_the_list():
    products = [
        product(1, title="Green sencha", tags=("japan",)),
        product(2, title="Black assam", product_type="Black tea", tags=("india",)),
        product(3, title="Green gunpowder", tags=("china",)),
    ]
    titles = lambda a: [c["title"] for c in cards(a)]  # noqa: E731
    assert titles(catalogue.reply(products, ask("green"), LINKS)) == [
        "Green gunpowder",
        "Green sencha",
    ]
    assert titles(catalogue.reply(products, ask("GREEN japan"), LINKS)) == ["Green sencha"]
    assert titles(catalogue.reply(products, ask("SKU2"), LINKS)) == ["Black assam"]
    assert titles(catalogue.reply(products, ask(collection="black tea"), LINKS)) == ["Black assam"]
    assert titles(catalogue.reply(products, ask(collection="china"), LINKS)) == ["Green gunpowder"]


def test_prices_that_differ_read_from():
    variants = (
        Variant("1", "S", None, Decimal("12"), 1),
        Variant("2", "L", None, Decimal("9.5"), 1),
    )
    answer = catalogue.reply([product(1, variants=variants)], ask(), LINKS)
    assert cards(answer)[0]["subtitle"] == "from 9.50 EUR · in stock"


def test_both_links_carry_the_contact_into_what_shopify_sends_back():
    [card] = cards(catalogue.reply([product(7)], ask(), LINKS))
    view, buy = (b["url"] for b in card["buttons"])
    assert view.startswith("https://shop.example/products/product-7?variant=5007&")
    assert buy.startswith("https://shop.example/cart/5007:1?")
    # The cart permalink's attribute comes back as the order's note attribute …
    attributes = parse_qs(urlsplit(buy).query)
    [(key, [value])] = attributes.items()
    note_attributes = [{"name": key.removeprefix("attributes[").rstrip("]"), "value": value}]
    order = load_json("shopify/shopify_python_api__order.json")["order"]
    assert chat_contact({**order, "note_attributes": note_attributes}) == CONTACT
    # … and the product page's parameter in its landing_site.
    landing = view.removeprefix("https://shop.example")
    entity = order_entity({**order, "landing_site": landing})
    assert entity["attribution"]["contact_id"] == CONTACT
    assert entity["attribution"]["contact_evidence"] == "link"
    assert order_entity(order)["attribution"].get("contact_id") is None


def test_products_from_the_view_rows_group_variants():
    rows = [
        {
            "product_id": "1",
            "title": "T",
            "variant_id": "11",
            "price": "5",
            "inventory_quantity": 0,
        },
        {
            "product_id": "1",
            "title": "T",
            "variant_id": "12",
            "price": "6",
            "inventory_quantity": 2,
        },
        {"product_id": "2", "title": "U", "variant_id": "21", "price": None, "tags": ["a"]},
    ]
    one, two = catalogue.products_from_rows(rows)
    assert [v.variant_id for v in one.variants] == ["11", "12"] and one.in_stock
    assert two.tags == ("a",) and two.variants[0].price is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", Request(None, "", "", 1)),
        (
            b'{"contact_id": "42", "q": "  green   tea ", "page": 2}',
            Request("42", "green tea", "", 2),
        ),
        (b'{"id": 42, "collection": "Tea"}', Request("42", "", "Tea", 1)),
        (b'{"subscriber": {"id": "7"}, "search": "x"}', Request("7", "x", "", 1)),
        (b'{"contact_id": "not-an-id", "page": -3}', Request(None, "", "", 1)),
    ],
)
def test_what_the_bot_may_ask(body, expected):
    assert catalogue.parse_request(body) == expected


@pytest.mark.parametrize("body", [b"{oops", b"[]", b'{"page": "two"}'])
def test_unreadable_requests_are_refused(body):
    with pytest.raises(PoisonMessage):
        catalogue.parse_request(body)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_loads_once_per_ttl_and_serves_the_last_list_if_a_refresh_fails():
    clock, loads = Clock(), []

    def load() -> list[Product]:
        loads.append(clock.now)
        if len(loads) == 3:
            raise TransientError("BigQuery away")
        return [product(len(loads))]

    cache = ProductCache(load, ttl=60, clock=clock)
    assert cache.get()[0].title == "Product 01"
    clock.now = 59
    assert cache.get()[0].title == "Product 01" and loads == [0]
    clock.now = 61
    assert cache.get()[0].title == "Product 02" and loads == [0, 61]
    clock.now = 200
    assert cache.get()[0].title == "Product 02"  # the refresh failed: the last list
    assert cache.get()[0].title == "Product 04"  # retried on the next call


def test_the_cache_with_nothing_loaded_yet_raises():
    def load() -> list[Product]:
        raise TransientError("BigQuery away")

    with pytest.raises(TransientError):
        ProductCache(load, ttl=60).get()


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"X-OrderHub-Secret": "s3cret-s3cret-s3cret"}, True),
        ({"X-OrderHub-Secret": "s3cret-s3cret-s3cre"}, False),
        ({"X-OrderHub-Secret": ""}, False),
        ({}, False),
    ],
)
def test_the_shared_secret(headers, ok, monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert authentic(headers, "X-OrderHub-Secret", "s3cret-s3cret-s3cret") is ok
    assert len(compared) == 1  # always the constant-time comparison, even when absent


def test_a_payment_link_carries_the_contact_the_manager_named():
    from orderhub.order_form import service
    from tests.unit.test_order_form_auth import NOW, TOKEN, FakeLinks, FakeShopify

    form = {
        "customer_name": "Ann",
        "phone": "+442079460958",
        "delivery_method": "pickup",
        "channel": "phone",
        "chat_contact": CONTACT,
        "lines-0-title": "Tea",
        "lines-0-quantity": "1",
        "lines-0-price": "5",
    }
    from orderhub.sources import manual

    order, errors = manual.validate(
        manual.read_form(form),
        link_mode=True,
        default_country="US",
        currency="USD",
        delivery_methods=("pickup",),
    )
    assert order is not None, errors
    shopify = FakeShopify()
    service.create_link(
        order=order,
        manager="anna",
        form_token=TOKEN,
        links=FakeLinks(),
        shopify=shopify,
        now=lambda: NOW,
    )
    [draft] = shopify.inputs
    # Shopify turns the draft's custom attributes into the paid order's note attributes.
    notes = [{"name": a["key"], "value": a["value"]} for a in draft["customAttributes"]]  # type: ignore[attr-defined]
    order_payload = load_json("shopify/shopify_python_api__order.json")["order"]
    attribution = order_entity({**order_payload, "note_attributes": notes})["attribution"]
    assert (attribution["contact_id"], attribution["contact_evidence"]) == (CONTACT, "manager")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (CONTACT, CONTACT),
        (f"https://manychat.com/fb1/chat/{CONTACT}/", CONTACT),
        ("Olena", None),
        ("https://manychat.com/fb1/chat/", None),
    ],
)
def test_the_form_takes_the_contact_id_or_its_live_chat_link(typed, expected):
    from orderhub.sources.manual import chat_contact_id

    assert chat_contact_id(typed) == expected


def test_a_chat_contact_the_form_cannot_read_is_an_error_next_to_the_field():
    from orderhub.sources import manual

    form = manual.read_form(
        {
            "customer_name": "Ann",
            "phone": "+442079460958",
            "delivery_method": "pickup",
            "channel": "phone",
            "chat_contact": "Olena from Instagram",
            "lines-0-title": "Tea",
            "lines-0-quantity": "1",
            "lines-0-price": "5",
        }
    )
    order, errors = manual.validate(
        form, link_mode=False, default_country="US", currency="USD", delivery_methods=("pickup",)
    )
    assert order is None
    assert list(errors) == ["chat_contact"]
    assert form.get("chat_contact") == "Olena from Instagram"  # kept for the page
