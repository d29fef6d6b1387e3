"""Customers edited in the CRM app, written by shopify_sync (issue 24): ``customerSet`` with
tags, note, address and the totals tags; nothing sent when Shopify holds all of it; refusals
in plain words; a delete removes the link and keeps Shopify's customer; the tag-list filter.
Emulators and the Shopify stand-in over real HTTP (the fixtures of test_shopify_sync)."""

from __future__ import annotations

import itertools
from typing import Any

from orderhub.event import Event, make_event
from tests.conftest import unique
from tests.integration import test_shopify_sync as base
from tests.integration.test_shopify_sync import AT, OTHER_SHOP, SHOP, Env

env = base.env  # the fixture: emulators, the stand-ins, the function's app

_versions = itertools.count(1_800_000_000_000)


def crm_customer(event_type: str = "customer.upserted", **entity: Any) -> Event:
    """A customer as the CRM app publishes it (``order_form.customer_edits``)."""
    base: dict[str, Any] = {
        "customer_id": "M-" + unique("c"),
        "name": "Olena Kovalenko",
        "email": "olena@example.com",
        "phone": "+351912000111",
        "tags": ["vip"],
        "note": "Prefers mornings",
        "default_address": {
            "address1": "Rua Augusta 10",
            "city": "Lisboa",
            "zip": "1100-053",
            "country_code": "PT",
        },
        "orders_count": 3,
        "total_spent": [{"amount": "120.5", "currency": "EUR"}],
        "manager": "maria",
    }
    merged = {**base, **entity}
    return make_event(
        event_type=event_type,
        source="manual",
        shop=SHOP,
        occurred_at=AT,
        version=next(_versions),
        entity_id=merged["customer_id"],
        entity=merged,
    )


def sets(env: Env) -> int:
    return int(env.standins[SHOP].writes.counts.get("customerSet", 0))


def link(env: Env, customer_id: str) -> dict[str, Any] | None:
    from orderhub.shopify_sync import wiring
    from orderhub.shopify_sync.links import link_key

    found: dict[str, Any] | None = wiring.deps().links.get(
        link_key(SHOP, "customer", "manual", customer_id)
    )
    return found


def test_a_crm_customer_goes_with_tags_note_address_and_totals_and_only_once(
    env: Env,
) -> None:
    event = crm_customer()
    assert env.post(event) == 200
    [customer] = env.standins[SHOP].writes.customers.values()
    assert set(customer["tags"]) == {"vip", "orderhub-orders:3", "orderhub-spent:EUR 120.50"}
    assert customer["note"] == "Prefers mornings"
    assert customer["defaultAddress"]["city"] == "Lisboa"
    assert (customer["firstName"], customer["lastName"]) == ("Olena", "Kovalenko")
    status = env.status("olena@example.com", "customer")
    assert status["status"] == "synced"
    assert status["reason"] == (
        "created in Shopify with its tags and totals (orders:3, spent:EUR 120.50)"
    )
    assert link(env, event["entity_id"])["shopify_id"] == customer["id"]

    # The same record again ("Send to Shopify now"): nothing is sent.
    before = sets(env)
    assert env.post(crm_customer(customer_id=event["entity_id"])) == 200
    assert sets(env) == before
    assert env.status("olena@example.com", "customer")["reason"] == "Shopify already holds this"

    # New totals (a new order): sent once; the old totals tags are replaced.
    spent = [{"amount": "150.00", "currency": "EUR"}]
    assert (
        env.post(crm_customer(customer_id=event["entity_id"], orders_count=4, total_spent=spent))
        == 200
    )
    assert sets(env) == before + 1
    [customer] = env.standins[SHOP].writes.customers.values()
    assert set(customer["tags"]) == {"vip", "orderhub-orders:4", "orderhub-spent:EUR 150.00"}


def test_refusals_are_said_in_plain_words(env: Env) -> None:
    assert env.post(crm_customer(email="first@example.com", name="Ivan Petrenko")) == 200
    # The phone belongs to another Shopify customer under another name.
    assert env.post(crm_customer(email="second@example.com", name="Ana Lima")) == 200
    taken = env.status("second@example.com", "customer")
    assert taken["status"] == "failed"
    assert taken["reason"].startswith("phone +351912000111 already belongs to customer ")
    assert taken["reason"].endswith("(another name or contact): not merged")
    # Shopify refuses the phone.
    assert env.post(crm_customer(email="third@example.com", phone="+3511")) == 200
    invalid = env.status("third@example.com", "customer")
    assert (invalid["status"], invalid["reason"]) == (
        "failed",
        "the phone +3511 is not a valid phone number (Shopify refused it)",
    )
    # The address lacks what Shopify needs: nothing is sent.
    before = sets(env)
    address = {"address1": "Rua Augusta 10", "zip": "1100-053"}
    assert (
        env.post(crm_customer(email="fourth@example.com", phone=None, default_address=address))
        == 200
    )
    missing = env.status("fourth@example.com", "customer")
    assert (missing["status"], missing["reason"], missing["error_code"]) == (
        "failed",
        "the address lacks the city and the country: not sent",
        "ADDRESS",
    )
    # A record of another shop.
    assert (
        env.post(crm_customer(email="fifth@example.com", phone=None, shopify_shop=OTHER_SHOP))
        == 200
    )
    other = env.status("fifth@example.com", "customer")
    assert (other["status"], other["error_code"]) == ("skipped", "OTHER_SHOP")
    assert other["reason"] == (
        f"this customer is a record of the shop {OTHER_SHOP}, not of {SHOP}: not sent"
    )
    assert sets(env) == before


def test_a_crm_delete_removes_the_link_and_keeps_the_shopify_customer(env: Env) -> None:
    event = crm_customer()
    assert env.post(event) == 200
    [customer] = env.standins[SHOP].writes.customers.values()
    assert link(env, event["entity_id"]) is not None
    gone = crm_customer("customer.deleted", customer_id=event["entity_id"], deleted=True, tags=None)
    assert env.post(gone) == 200
    assert link(env, event["entity_id"]) is None
    assert list(env.standins[SHOP].writes.customers) == [customer["id"]]  # kept in Shopify
    status = env.status("olena@example.com", "customer")
    assert (status["status"], status["error_code"]) == ("skipped", "DELETED")
    assert "the link to Shopify customer" in status["reason"]
    assert status["reason"].endswith("is removed; the Shopify customer is kept")


def test_the_list_filter_sends_only_customers_on_one_of_the_lists(env: Env) -> None:
    env.switches(SHOP, customer_tags="wholesale, vip-gold")
    assert env.post(crm_customer(tags=["regular"])) == 200
    assert env.status("olena@example.com", "customer")["reason"] == (
        "filtered: customer is on none of the lists wholesale, vip-gold"
    )
    assert env.standins[SHOP].writes.customers == {}
    assert env.post(crm_customer(tags=["wholesale"])) == 200
    assert env.status("olena@example.com", "customer")["status"] == "synced"


# ------------------------------------------------------------------ payments
def paid_order(payment_type: str | None) -> Event:
    from decimal import Decimal

    from orderhub.sources import manual

    order = manual.ManualOrder(
        lines=(manual.Line("Ceramic mug", 2, Decimal("11.50"), sku="MUG-1"),),
        currency="EUR",
        customer_name="Ana Silva",
        phone="+351912345678",
        email=None,
        address="Rua Augusta 10, Lisboa",
        delivery_method="courier",
        note=None,
        channel="phone",
        payment_type=payment_type,
    )
    return manual.order_event(order, manager="maria", form_token=unique("tok"), shop=SHOP, at=AT)


def test_a_payment_type_paid_in_shopify_sends_its_transaction(env: Env) -> None:
    env.switches(SHOP, paid_in_shopify="card,bank_transfer")
    card = paid_order("card")
    assert env.post(card) == 200
    [order] = [o for o in env.orders() if o["source_identifier"].endswith(card["entity_id"])]
    assert order["financial_status"] == "paid"
    assert order["transactions"] == [
        {
            "kind": "sale",
            "status": "success",
            "gateway": "card",
            "amount": "23.00",
            "currency": "EUR",
            "processed_at": card["entity"]["created_at"],
        }
    ]
    assert "a sale transaction sent" in env.status(card["entity_id"])["reason"]

    cod = paid_order("cash_on_delivery")  # not marked: Shopify holds it as pending
    assert env.post(cod) == 200
    [order] = [o for o in env.orders() if o["source_identifier"].endswith(cod["entity_id"])]
    assert (order["financial_status"], order["transactions"]) == ("pending", [])


def test_the_owners_delete_in_shopify_deletes_only_a_customer_without_orders(env: Env) -> None:
    lone = crm_customer(email="lone@example.com", phone=None)
    assert env.post(lone) == 200
    gone = crm_customer(
        "customer.deleted",
        customer_id=lone["entity_id"],
        email="lone@example.com",
        phone=None,
        deleted=True,
        delete_in_shopify=True,
    )
    assert env.post(gone) == 200
    assert env.standins[SHOP].writes.customers == {}
    status = env.status("lone@example.com", "customer")
    assert status["status"] == "synced"
    assert status["reason"].startswith("deleted in the CRM and in Shopify (customer ")
    assert link(env, lone["entity_id"]) is None

    # A customer with orders: Shopify refuses, and says why.
    order = paid_order(None)
    assert env.post(order) == 200  # its customer (by phone) is associated with the order
    buyer = crm_customer(name="Ana Silva", email=None, phone="+351912345678")
    assert env.post(buyer) == 200
    kept = crm_customer(
        "customer.deleted",
        customer_id=buyer["entity_id"],
        email=None,
        phone="+351912345678",
        deleted=True,
        delete_in_shopify=True,
    )
    assert env.post(kept) == 200
    status = env.status("+351912345678", "customer")
    assert (status["status"], status["error_code"]) == ("failed", "NOT_DELETED")
    assert status["reason"].endswith("because they have associated orders")
    assert len(env.standins[SHOP].writes.customers) == 1
