"""The customer edit form (issue 24): what a manager typed, checked, and the events it gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from orderhub.order_form import customer_edits

GOOD = {
    "name": " Olena  Kovalenko ",
    "phone": "(201) 555-0150",
    "email": "Olena@Example.com",
    "tags": "vip, wholesale,, vip",
    "note": "Mornings\r\nplease",
    "address1": "1 Main St",
    "city": "Newark",
    "zip": "07102",
    "country_code": "us",
}


def test_a_good_form_is_the_record_with_e164_phone_lowercase_email_and_unique_tags() -> None:
    edit = customer_edits.read(GOOD, default_country="US")
    assert edit.errors == {}
    assert edit.record == {
        "name": "Olena  Kovalenko",
        "email": "olena@example.com",
        "phone": "+12015550150",
        "tags": ["vip", "wholesale"],
        "note": "Mornings\nplease",
        "default_address": {
            "address1": "1 Main St",
            "city": "Newark",
            "zip": "07102",
            "country_code": "US",
        },
    }
    assert customer_edits.key_of(edit.record) == "p12015550150"


def test_each_mistake_is_said_next_to_its_field() -> None:
    cases = {
        "phone": ({"phone": "12"}, "valid phone"),
        "email": ({"email": "not-an-email"}, "not an e-mail"),
        "name": ({"name": ""}, "name"),
        "city": ({"city": ""}, "City is needed"),
        "country_code": ({"country_code": "U1"}, "Two letters"),
        "tags": ({"tags": "x" * 256}, "255 characters"),
    }
    for name, (change, words) in cases.items():
        edit = customer_edits.read({**GOOD, **change}, default_country="US")
        assert name in edit.errors and words.lower() in edit.errors[name].lower(), (
            name,
            edit.errors,
        )
        assert edit.record == {}
    neither = customer_edits.read({**GOOD, "phone": "", "email": ""}, default_country="US")
    assert "phone or an e-mail" in neither.errors["phone"]
    no_address = {**GOOD, **dict.fromkeys(("address1", "city", "zip", "country_code"), "")}
    assert customer_edits.read(no_address, default_country="US").record["default_address"] is None


@dataclass
class Page:
    key: str = "p12015550150"
    name: str = "Olena"
    phone: str = "+12015550150"
    email: str = ""
    address: dict[str, Any] | None = None
    orders: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    note: str = ""
    consent_records: dict[str, Any] = field(default_factory=dict)


def test_the_event_counts_orders_and_spend_and_keeps_one_id_per_customer() -> None:
    at = datetime(2026, 12, 7, 12, tzinfo=UTC)
    page = Page(
        orders=[{"status": "paid"}, {"status": "cancelled"}, {"status": "open"}],
        totals={"EUR": Decimal("20.5"), "USD": Decimal("3")},
        consent_records={"email": {"state": "subscribed", "consent_updated_at": at}},
    )
    edit = customer_edits.read(GOOD, default_country="US")
    event = customer_edits.upserted(
        edit.record, page=page, shop="s.myshopify.com", manager="anna", manager_name="Anna", at=at
    )
    entity = event["entity"]
    assert (event["event_type"], event["source"], event["version"]) == (
        "customer.upserted",
        "manual",
        int(at.timestamp() * 1000),
    )
    assert entity["orders_count"] == 2
    assert entity["total_spent"] == [
        {"amount": "20.50", "currency": "EUR"},
        {"amount": "3.00", "currency": "USD"},
    ]
    assert entity["email_marketing_consent"]["consent_updated_at"] == at.isoformat()
    assert "shopify_shop" not in entity
    # Once the CRM holds the record, later edits are versions of it.
    page.records = [{"source": "manual", "shop": "s.myshopify.com", "customer_id": "M-kept"}]
    again = customer_edits.upserted(
        edit.record, page=page, shop="s.myshopify.com", manager="anna", manager_name="Anna", at=at
    )
    assert again["entity_id"] == "M-kept"
    # A customer known only from another shop's Shopify is marked as such.
    page.records = [{"source": "shopify", "shop": "b.myshopify.com", "customer_id": "5"}]
    other = customer_edits.upserted(
        edit.record, page=page, shop="s.myshopify.com", manager="anna", manager_name="Anna", at=at
    )
    assert other["entity"]["shopify_shop"] == "b.myshopify.com"
