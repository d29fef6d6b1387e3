"""Every GraphQL operation OrderHub can send, with the variables it sends, is valid against
Shopify's published Admin schema for the pinned version (``devstack/shopify_schema``) and
names no deprecated field, argument, input field or enum value (in the document or in the
variables). The operations are recorded from the real code paths, not copied."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from devstack.standins import shopify_schema
from orderhub.order_form import payment_links
from orderhub.shopify import admin as admin_module
from orderhub.shopify import markers, versions, writer
from orderhub.shopify_reconcile import backfill, deletes, reconcile
from orderhub.shopify_sync import plan, products
from orderhub.sources import manual
from orderhub.switches import Switches

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ON = Switches().changed({"outbound.orders": "on", "outbound.customers": "on"})


@dataclass(frozen=True)
class DraftLine:
    title: str
    quantity: int
    unit_price: Decimal
    variant_id: str | None = None
    sku: str | None = None


def _event() -> dict[str, Any]:
    order = manual.ManualOrder(
        lines=(
            manual.Line("Ceramic mug", 2, Decimal("11.50"), sku="MUG-1"),
            manual.Line("Gift wrap", 1, Decimal("2.00"), sku="WRAP"),
        ),
        currency="EUR",
        customer_name="Ana Maria Silva",
        phone="+351912345678",
        email="ana@example.com",
        address="Rua Augusta 10",
        delivery_method="courier",
        note="ring twice",
        channel="phone",
    )
    event = dict(
        manual.order_event(
            order, manager="maria", form_token="t" * 20, shop="s.myshopify.com", at=AT
        )
    )
    entity = dict(event["entity"])
    entity["shipping_address"] = {
        "name": "Ana Silva",
        "address1": "Rua Augusta 10",
        "city": "Lisboa",
        "province": "Lisboa",
        "province_code": "11",
        "zip": "1100-048",
        "country_code": "pt",
        "phone": "+351912345678",
    }
    entity["shipping"] = "4.00"
    entity["discounts"] = "1.00"
    event["entity"] = entity
    return event


def _writer_operations() -> list[tuple[str, dict[str, Any]]]:
    sent: list[tuple[str, dict[str, Any]]] = []

    def graphql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        sent.append((query, variables))
        return {"data": {}}

    shop = writer.ShopifyWriter(graphql, writer.CostThrottle(sleep=lambda _s: None))
    gid = "gid://shopify/Order/1"
    shop.find_order(writer.quoted("source_identifier", markers.source_identifier("form", "x")))
    shop.order_update(gid, {"note": "n", "tags": ["a"]})
    edit = {  # a manager's edit of the address and note (issue 22)
        "note": "leave at the door",
        "shipping_address": {
            "name": "Ana Lima",
            "address1": "Rua Augusta 10",
            "city": "Lisboa",
            "zip": "1100-048",
            "country_code": "PT",
            "phone": "+351912345678",
        },
    }
    shop.order_update(gid, plan.edit_input(edit))
    shop.order_mark_as_paid(gid)
    shop.variants_by_sku(["MUG-1", "WRAP"])
    planned = plan.order_create_input(
        _event(),
        variants={"MUG-1": "gid://shopify/ProductVariant/8"},
        switches=ON,
        customer_id="gid://shopify/Customer/5",
    )
    with pytest.raises(writer.Refused):  # the fake answers no order
        shop.order_create(planned.order, planned.options)
    # A form order whose payment type the owner marked "paid in Shopify" (issue 24):
    # orderCreate with a sale transaction in place of financialStatus.
    paid_event = _event()
    paid_event["entity"] = dict(paid_event["entity"], payment_type="cash_on_delivery")
    paid = plan.order_create_input(
        paid_event,
        variants={},
        switches=ON.changed({"paid_in_shopify": "cash_on_delivery"}),
        customer_id=None,
    )
    assert paid.order.get("transactions"), paid.order
    with pytest.raises(writer.Refused):
        shop.order_create(paid.order, paid.options)
    shop.order_cancel(gid, reason="CUSTOMER", restock=True, note="asked by phone")
    shop.order_fulfilment(gid)  # a manager's "shipped" (issue 22)
    # A manager's edit of items (issue 22): Shopify's order editing.
    shop.order_lines(gid)
    with pytest.raises(writer.Refused):  # the fake answers no calculated order
        shop.order_edit_begin(gid)
    calculated = "gid://shopify/CalculatedOrder/9"
    shop.order_edit_set_quantity(calculated, "gid://shopify/CalculatedLineItem/3", 0)
    shop.order_edit_add_variant(calculated, "gid://shopify/ProductVariant/8", 2)
    shop.order_edit_commit(calculated, staff_note="Items edited in the CRM by Anna K")
    with contextlib.suppress(writer.Refused, KeyError, TypeError, AttributeError):
        shop.fulfillment_create(
            ["gid://shopify/FulfillmentOrder/3"],
            tracking_number="1Z999",
            tracking_company="UPS",
            notify_customer=True,
        )
    shop.find_customer(writer.quoted("email", "ana@example.com"))
    wish = plan.customer_wish({"email": "ana@example.com", "phone": "+351912345678", "name": "Ana"})
    assert wish is not None
    with pytest.raises(writer.Refused):  # the fake answers no customer
        shop.customer_set(plan.customer_identifier(wish), plan.customer_set_input(wish))
    for channel in ("email", "sms"):
        decision = {"state": "subscribed", "consent_updated_at": "2026-11-20T09:29:00Z"}
        consent = plan.consent_to_send(decision, None)
        assert consent is not None
        shop.consent_update(channel, "gid://shopify/Customer/5", consent)
    # An owner's "Also delete in Shopify" (issue 24).
    with contextlib.suppress(writer.Refused):
        shop.customer_delete("gid://shopify/Customer/5")
    # Products (issue 24): lookup by our tag, read by id, productSet, locations, stock.
    shop.find_product(markers.product_search("crm-0123456789abcdef"))
    shop.product("gid://shopify/Product/7")
    for current, create in ((None, True), (_shopify_product(), False)):
        wanted = products.product_set_input(
            _product_entity(), current, crm_id="crm-0123456789abcdef", create=create
        )
        with pytest.raises(writer.Refused):  # the fake answers no product
            shop.product_set(None if create else {"id": "gid://shopify/Product/7"}, wanted)
    shop.locations()
    shop.product_delete("gid://shopify/Product/7")
    shop.inventory_set(
        products.stock_quantities(_product_entity(), _shopify_product()), key="stock-key-1"
    )
    return sent


def _product_entity() -> dict[str, Any]:
    return {
        "product_id": "crm-0123456789abcdef",
        "title": "Linen apron",
        "description": "<p>Washed linen</p>",
        "status": "active",
        "vendor": "OrderHub",
        "product_type": "Aprons",
        "tags": ["linen"],
        "images": ["https://cdn.example.com/apron.jpg"],
        "options": ["Colour"],
        "variants": [
            {
                "variant_id": "1",
                "sku": "APRON-S",
                "title": "Sand",
                "options": ["Sand"],
                "price": "24.00",
                "compare_at_price": "29.00",
                "barcode": "5601234567890",
                "weight": "0.3",
                "weight_unit": "kg",
                "stock_set": [{"location_id": "gid://shopify/Location/1", "quantity": 7, "was": 5}],
            },
            {
                "variant_id": "2",
                "sku": "APRON-C",
                "title": "Clay",
                "options": ["Clay"],
                "price": "24",
            },
        ],
    }


def _shopify_product() -> writer.ShopifyProduct:
    return writer.ShopifyProduct(
        "gid://shopify/Product/7",
        "Linen apron",
        variants=(
            writer.ShopifyVariant(
                "gid://shopify/ProductVariant/71",
                "APRON-S",
                "20.00",
                inventory_item_id="gid://shopify/InventoryItem/71",
            ),
        ),
    )


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(name, document, variables) of everything the code sends to the Admin API."""
    ops: list[tuple[str, str, dict[str, Any]]] = []
    draft = admin_module.draft_order_input(
        [
            DraftLine("Mug", 2, Decimal("11.50"), variant_id="8"),
            DraftLine("Wrap", 1, Decimal("2.00"), sku="WRAP"),
        ],
        currency="EUR",
        note="n",
        email="ana@example.com",
        phone="+351912345678",
        tags=["orderhub"],
        attributes={"orderhub_form": "x"},
    )
    ops.append(("draftOrderCreate", admin_module.DRAFT_ORDER_CREATE, {"input": draft}))
    links = {"first": payment_links.LIST_SIZE, "query": f"status:open tag:{payment_links.TAG}"}
    ops.append(("draftOrders (unpaid links)", payment_links.OPEN_LINKS, links))
    for number, (query, variables) in enumerate(_writer_operations()):
        ops.append((f"writer#{number}", query, variables))
    since = {"first": 7, "after": None, "query": "updated_at:>='2026-11-01T00:00:00Z'"}
    for name, resource in reconcile.RESOURCES.items():
        ops.append((f"reconcile {name}", reconcile.page_query(resource), since))
        if resource.nested is not None:
            query = reconcile.NESTED_QUERY % {
                "type": resource.nested.type_name,
                "field": resource.nested.field,
                "fields": resource.nested.fields,
            }
            ops.append(
                (f"reconcile {name} nested", query, {"id": "gid://x/1", "first": 100, "after": "c"})
            )
    refund = reconcile.REFUND_LINES
    query = reconcile.NESTED_QUERY % {
        "type": refund.type_name,
        "field": refund.field,
        "fields": refund.fields,
    }
    ops.append(
        (
            "reconcile refund lines",
            query,
            {"id": "gid://shopify/Refund/1", "first": 100, "after": None},
        )
    )
    for name, bulk in backfill.BULK_QUERIES.items():
        ops.append((f"backfill {name} (bulk query)", bulk, {}))
        ops.append((f"backfill {name}", backfill.RUN, {"query": bulk}))
    ops.append(("backfill poll", backfill.POLL, {"id": "gid://shopify/BulkOperation/1"}))
    ops.append(("id check", deletes.NODES_QUERY, {"ids": ["gid://shopify/Order/1"]}))
    from orderhub.shopify import webhooks as hooks  # what scripts/shopify_register_webhooks sends

    ops.append(("webhooks existing", hooks.EXISTING, {"after": None}))
    for topic in sorted(
        {hooks.graphql_topic(t) for t in hooks.TOPICS if t not in hooks.COMPLIANCE_TOPICS}
    ):
        sub = {"uri": "https://example.com/hook", "format": "JSON"}
        ops.append((f"webhook {topic}", hooks.CREATE, {"topic": topic, "sub": sub}))
    return ops


def test_the_vendored_schema_is_the_pinned_version() -> None:
    assert shopify_schema.schema_version() == versions.DEFAULT_API_VERSION


def test_the_schema_check_is_skipped_only_for_shopifys_six_known_problems() -> None:
    schema = shopify_schema.schema()  # raises on any other problem
    assert schema.query_type is not None and schema.query_type.name == "QueryRoot"


@pytest.mark.parametrize(
    "name,query,variables",
    operations(),
    ids=lambda v: v if isinstance(v, str) and len(v) < 60 else "",
)
def test_every_operation_is_valid_and_uses_nothing_deprecated(
    name: str, query: str, variables: dict[str, Any]
) -> None:
    assert shopify_schema.check(query, variables) is None
    assert shopify_schema.deprecated_uses(query) == []
    assert shopify_schema.deprecated_in_variables(query, variables) == []


def test_the_checks_catch_what_the_old_code_sent() -> None:
    """The deprecated forms the issue listed are caught, so the test above means something."""
    old_customer = (
        "query { customers(first: 1) { nodes {"
        " id email phone emailMarketingConsent { marketingState } } } }"
    )
    assert len(shopify_schema.deprecated_uses(old_customer)) == 3
    cancel = (
        'mutation { orderCancel(orderId: "gid://shopify/Order/1", reason: CUSTOMER,'
        " restock: true, refund: false) { job { id } } }"
    )
    assert shopify_schema.deprecated_uses(cancel) == [
        "argument refund: Use `refundMethod` instead."
    ]
    address = {"address1": "x", "province": "Lisboa", "countryCode": "PT"}
    order = {
        "currency": "EUR",
        "lineItems": [{"title": "x", "quantity": 1}],
        "shippingAddress": address,
    }
    found = shopify_schema.deprecated_in_variables(writer.ORDER_CREATE, {"order": order})
    assert found and "MailingAddressInput.province" in found[0]


def test_the_operations_are_found() -> None:
    names = {name for name, _q, _v in operations()}
    assert len(names) >= 25 and "draftOrderCreate" in names
    documents = "".join(query for _n, query, _v in operations())
    for mutation in (
        "orderEditBegin",
        "orderEditSetQuantity",
        "orderEditAddVariant",
        "orderEditCommit",
    ):
        assert f"{mutation}(" in documents
    sent = [(query, str(variables)) for _n, query, variables in operations()]
    assert any("customerDelete" in query for query, _v in sent)
    assert any("draftOrders(" in query for query, _v in sent)
    assert any("orderCreate" in query and "transactions" in v for query, v in sent)
