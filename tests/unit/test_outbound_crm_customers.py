"""What shopify_sync writes for a customer edited in the CRM and for a paid form order
(issue 24): pure decisions of ``shopify_sync.plan``."""

from __future__ import annotations

from orderhub.shopify.writer import ShopifyCustomer
from orderhub.shopify_sync import plan
from orderhub.switches import Switches

ENTITY = {
    "name": "Olena Kovalenko",
    "email": "Olena@example.com",
    "phone": "+351912000111",
    "tags": ["vip", "orderhub-orders:1", "a,b"],
    "note": "Mornings",
    "default_address": {"address1": "Rua A 1", "city": "Lisboa", "country_code": "pt"},
    "orders_count": 3,
    "total_spent": [{"amount": "120.5", "currency": "EUR"}],
}


def test_a_crm_customer_sends_its_tags_with_the_totals_its_note_and_address() -> None:
    wish = plan.crm_customer_wish(ENTITY)
    assert wish is not None
    assert wish.tags == ("vip", "a b")  # our old totals tag is not the CRM's own
    sent = plan.customer_set_input(wish, with_address=True)
    assert sent == {
        "email": "olena@example.com",
        "phone": "+351912000111",
        "firstName": "Olena",
        "lastName": "Kovalenko",
        "tags": ["vip", "a b", "orderhub-orders:3", "orderhub-spent:EUR 120.50"],
        "note": "Mornings",
        "addresses": [{"address1": "Rua A 1", "city": "Lisboa", "countryCode": "PT"}],
    }
    assert "addresses" not in plan.customer_set_input(wish)  # several in Shopify: kept


def test_unchanged_means_tags_note_and_address_too() -> None:
    wish = plan.crm_customer_wish(ENTITY)
    assert wish is not None
    held = ShopifyCustomer(
        "gid://shopify/Customer/1",
        email="olena@example.com",
        phone="+351912000111",
        first_name="Olena",
        last_name="Kovalenko",
        tags=("orderhub-spent:EUR 120.50", "orderhub-orders:3", "VIP", "a b"),
        note="Mornings",
        address={"address1": "Rua A 1", "city": "Lisboa", "countryCodeV2": "PT"},
        addresses=1,
    )
    assert plan.customer_unchanged(held, wish)
    for changed in (
        {"tags": ("vip",)},
        {"note": "Evenings"},
        {"address": {"address1": "Rua B 2", "city": "Lisboa", "countryCodeV2": "PT"}},
    ):
        from dataclasses import replace

        assert not plan.customer_unchanged(replace(held, **changed), wish), changed
    # Customers of orders compare as before: tags and note are not theirs to send.
    order_wish = plan.customer_wish(ENTITY)
    assert order_wish is not None
    assert plan.customer_unchanged(
        ShopifyCustomer("x", "olena@example.com", "+351912000111", "Olena", "Kovalenko"),
        order_wish,
    )


def test_missing_address_fields_and_refusals_in_words() -> None:
    assert plan.address_missing({"address1": "Rua A 1"}) == ["the city", "the country"]
    assert plan.address_missing({"address1": "Rua A 1", "city": "L", "country_code": "PT"}) == []
    assert plan.address_missing(None) == []
    wish = plan.crm_customer_wish(ENTITY)
    assert wish is not None
    assert plan.refusal_words({"INVALID"}, {"input", "phone"}, wish, "Phone is invalid") == (
        "the phone +351912000111 is not a valid phone number (Shopify refused it)"
    )
    assert plan.refusal_words({"INVALID"}, {"input", "email"}, wish, "x").startswith(
        "the e-mail olena@example.com is not a valid e-mail address"
    )


def test_the_list_filter() -> None:
    wish = plan.crm_customer_wish(ENTITY)
    assert wish is not None
    on = Switches().changed({"outbound.customers": "on", "customer_tags": "wholesale, vip"})
    assert on.customer_tags == ("wholesale", "vip")
    assert plan.customer_skip_reason(wish, on, consented=False) is None
    other = on.changed({"customer_tags": "wholesale"})
    assert plan.customer_skip_reason(wish, other, consented=False) == (
        "filtered: customer is on none of the lists wholesale"
    )
    assert Switches.from_document(other.to_document()) == other


def test_a_payment_type_paid_in_shopify_is_one_sale_of_the_total() -> None:
    switches = Switches().changed({"paid_in_shopify": "card"})
    order = {"payment_type": "card", "total": {"amount": "23.00", "currency": "EUR"}}
    assert plan.paid_transaction(order, switches, "EUR", "2026-12-07T10:00:00Z") == {
        "kind": "SALE",
        "status": "SUCCESS",
        "gateway": "card",
        "amountSet": {"shopMoney": {"amount": "23.00", "currencyCode": "EUR"}},
        "processedAt": "2026-12-07T10:00:00Z",
    }
    assert plan.paid_transaction({**order, "payment_type": "cash"}, switches, "EUR", "t") is None
    assert plan.paid_transaction({**order, "payment_type": None}, switches, "EUR", "t") is None
