"""shopify_sync writes products (issue 24) on the emulators against the Shopify stand-in over
real HTTP: switched off by default; an edit of a Shopify product is one ``productSet``
however often it is delivered, and an older version is never sent over a newer one; a
product made in the CRM is created once even when the answer to the create is lost; stock
goes with an idempotency key; Shopify's refusals are in ``sync_status`` in plain words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderhub.errors import TransientError
from orderhub.event import Event
from orderhub.order_form import product_edit
from orderhub.shopify_sync import sync
from tests.conftest import unique
from tests.integration import test_shopify_sync as base
from tests.integration.test_shopify_sync import SHOP, Env

env = base.env  # the sync's fixture: two stand-in shops, the function's own wiring

OWNER = product_edit.Owner("owner-1", "Olena")


def edit(product_id: str, entity: dict[str, Any], *, at: datetime | None = None) -> Event:
    return product_edit.product_event(
        entity,
        product_id=product_id,
        shop=SHOP,
        owner=OWNER,
        token=unique("tok"),
        at=at or datetime.now(UTC),
    )


def mug(price: str = "12.00", **variant: Any) -> dict[str, Any]:
    """The stand-in's seeded product 7001 as the CRM holds it, with a price of our choice."""
    return {
        "title": "Ceramic mug",
        "status": "active",
        "tags": [],
        "variants": [
            {
                "variant_id": "8001",
                "sku": "MUG-1",
                "title": "Blue",
                "price": price,
                **variant,
            }
        ],
    }


def product_sets(env: Env) -> int:
    return int(env.standins[SHOP].writes.counts.get("productSet", 0))


def shopify_price(env: Env) -> str:
    node = env.standins[SHOP].shop.nodes["products"]["gid://shopify/Product/7001"]
    return str(node["variants"][0]["price"])


def products_on(env: Env) -> None:
    env.switches(SHOP, **{"outbound.products": "on"})


def test_products_are_not_written_until_switched_on(env: Env) -> None:
    event = edit("7001", mug("15.00"))
    sync.handle(event, env.deps())
    assert product_sets(env) == 0 and shopify_price(env) == "12.00"
    status = env.status("7001", "product")
    assert status["status"] == "skipped" and "outbound.products is off" in status["reason"]


def test_a_price_edit_is_one_product_set_however_often_delivered(env: Env) -> None:
    products_on(env)
    older = edit("7001", mug("13.00"), at=datetime.now(UTC) - timedelta(minutes=5))
    event = edit("7001", mug("15.00"))
    sync.handle(event, env.deps())
    sync.handle(event, env.deps())  # Pub/Sub's redelivery
    assert env.post(event) == 200  # and once more through the function
    assert product_sets(env) == 1 and shopify_price(env) == "15.00"
    status = env.status("7001", "product")
    assert status["status"] == "synced"
    assert status["reason"] == "updated in Shopify: price of MUG-1 12.00 → 15.00"
    sync.handle(older, env.deps())  # an older version arriving late is not sent over it
    assert product_sets(env) == 1 and shopify_price(env) == "15.00"
    late = env.crm.query(
        "SELECT reason FROM {ds}.sync_log WHERE record_id = '7001' AND event_id = @e",
        e=older["event_id"],
    )
    assert [r["reason"] for r in late] == [
        f"Shopify already has a newer version of it (version {event['version']})"
    ]


def test_shopify_product_events_are_never_written_back(env: Env) -> None:
    products_on(env)
    event = {**edit("7001", mug("19.00")), "source": "shopify"}
    assert sync.handle(event, env.deps()) is None
    assert product_sets(env) == 0


def new_bag(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "status": "active",
        "options": ["Colour"],
        "images": ["https://cdn.example.com/bag.jpg"],
        "variants": [
            {
                "variant_id": "new-1",
                "sku": f"{title}-S",
                "title": "Sand",
                "options": ["Sand"],
                "price": "24.00",
                "weight": "0.3",
                "weight_unit": "kg",
            },
            {
                "variant_id": "new-2",
                "sku": f"{title}-C",
                "title": "Clay",
                "options": ["Clay"],
                "price": "26.00",
            },
        ],
    }


def created(env: Env, crm_id: str) -> list[dict[str, Any]]:
    return [
        p
        for p in env.standins[SHOP].shop.nodes["products"].values()
        if f"orderhub-product:{crm_id}" in (p.get("tags") or [])
    ]


def test_a_crm_product_is_created_once_when_the_answer_to_the_create_is_lost(env: Env) -> None:
    products_on(env)
    crm_id = product_edit.new_product_id(unique("tok"))
    event = edit(crm_id, new_bag(unique("bag")))
    env.standins[SHOP].writes.faults["productSet"] = ["slow:1.5"]
    with pytest.raises(TransientError):
        sync.handle(event, env.deps(timeout=0.5))  # Shopify created it; we never heard
    assert len(created(env, crm_id)) == 1 and product_sets(env) == 1
    assert env.status(crm_id, "product")["status"] == "waiting"

    sync.handle(event, env.deps())  # the redelivery looks it up by its tag: found
    [product] = created(env, crm_id)
    assert product_sets(env) == 1  # Shopify already held it: not sent again
    assert {(v["sku"], v["price"]) for v in product["variants"]} == {
        (f"{event['entity']['title']}-S", "24.00"),
        (f"{event['entity']['title']}-C", "26.00"),
    }
    assert product["options"] == [{"name": "Colour", "values": ["Sand", "Clay"]}]
    assert env.status(crm_id, "product")["status"] == "synced"


def test_stock_is_set_where_the_owner_changed_it_and_refusals_are_in_words(env: Env) -> None:
    products_on(env)
    crm_id = product_edit.new_product_id(unique("tok"))
    bag = new_bag(unique("bag"))
    bag["variants"][0]["stock_set"] = [
        {"location_id": "gid://shopify/Location/1", "quantity": 7, "was": None}
    ]
    sync.handle(edit(crm_id, bag), env.deps())
    [product] = created(env, crm_id)
    item = product["variants"][0]["inventoryItem"]["id"]
    stock = env.standins[SHOP].writes.products.stock()
    assert {
        "inventory_item_id": item,
        "location_id": "gid://shopify/Location/1",
        "available": 7,
    } in stock
    assert "stock set at 1 location(s)" in env.status(crm_id, "product")["reason"]

    bag["variants"][0]["stock_set"] = [
        {"location_id": "gid://shopify/Location/3", "quantity": 2, "was": None}  # inactive
    ]
    bag["variants"][0]["price"] = "25.00"
    sync.handle(edit(crm_id, bag), env.deps())
    status = env.status(crm_id, "product")
    assert status["status"] == "failed" and status["error_code"] == "INVALID_LOCATION"
    assert "The specified location could not be found" in status["reason"]


def test_a_product_without_a_title_is_refused_in_plain_words(env: Env) -> None:
    products_on(env)
    crm_id = product_edit.new_product_id(unique("tok"))
    bag = new_bag(unique("bag"))
    bag["title"] = ""
    sync.handle(edit(crm_id, bag), env.deps())
    status = env.status(crm_id, "product")
    assert status["status"] == "failed"
    assert status["reason"] == "Shopify refused it: productSet: Title can't be blank"
    assert created(env, crm_id) == []


def deleted(product_id: str, *, in_shopify: bool) -> Event:
    return product_edit.delete_event(
        mug(),
        product_id=product_id,
        shop=SHOP,
        owner=OWNER,
        token=unique("tok"),
        at=datetime.now(UTC),
        in_shopify=in_shopify,
    )


def test_a_crm_delete_removes_the_link_and_deletes_in_shopify_only_when_ticked(
    env: Env,
) -> None:
    products_on(env)
    sync.handle(edit("7001", mug("15.00")), env.deps())
    sync.handle(deleted("7001", in_shopify=False), env.deps())
    assert "gid://shopify/Product/7001" in env.standins[SHOP].shop.nodes["products"]
    status = env.status("7001", "product")
    assert status["reason"].startswith("deleted in the CRM: the link to Shopify is removed")

    event = deleted("7001", in_shopify=True)
    sync.handle(event, env.deps())
    sync.handle(event, env.deps())  # redelivered: deleted once
    assert "gid://shopify/Product/7001" not in env.standins[SHOP].shop.nodes["products"]
    assert env.standins[SHOP].writes.counts.get("productDelete") == 1
    assert env.status("7001", "product")["reason"] == "deleted in Shopify, as the owner asked"
