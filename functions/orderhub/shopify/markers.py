"""How our own writes are marked in Shopify, and how to recognise them when they come back.

Pure code, shared by the outbound writer and the webhook normaliser. An order we create
carries three marks, any of which identifies it:

* ``sourceIdentifier`` = ``orderhub:<source>:<crm order id>`` (searchable in Shopify as
  ``source_identifier:"…"``, not editable in the admin). The CRM's key of an order is its
  source and id together (two marketplaces may both have an order 1001), so both go in.
* custom attributes (``note_attributes`` in webhooks) ``orderhub_source``,
  ``orderhub_order_id`` and ``orderhub_order_name``;
* the tag ``orderhub`` with ``orderhub-source:<source>`` (visible to staff).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREFIX = "orderhub"
TAG = "orderhub"
ATTR_SOURCE = "orderhub_source"
ATTR_ORDER_ID = "orderhub_order_id"
ATTR_ORDER_NAME = "orderhub_order_name"
#: The CRM's shop key of the order when it is not the Shopify shop (e-mail orders are
#: keyed by the mailbox that received them).
ATTR_CRM_SHOP = "orderhub_shop"


@dataclass(frozen=True)
class CrmRef:
    """The CRM order a Shopify order was written from."""

    source: str
    order_id: str
    name: str | None = None
    shop: str | None = None


def source_identifier(source: str, order_id: str) -> str:
    return f"{PREFIX}:{source}:{order_id}"


def parse_source_identifier(value: Any) -> CrmRef | None:
    if not isinstance(value, str) or not value.startswith(PREFIX + ":"):
        return None
    source, _, order_id = value[len(PREFIX) + 1 :].rpartition(":")
    if not source or not order_id or source == "shopify":
        return None
    return CrmRef(source, order_id)


def search_query(source: str, order_id: str) -> str:
    """Shopify's search for our order: quoted, so ``:`` and spaces are not tokenised."""
    value = source_identifier(source, order_id).replace("\\", "\\\\").replace('"', '\\"')
    return f'source_identifier:"{value}"'


def order_tags(source: str) -> list[str]:
    return [TAG, f"{TAG}-source:{source}"]


def order_attributes(
    source: str, order_id: str, name: str | None, crm_shop: str | None = None
) -> list[dict[str, str]]:
    attributes = [
        {"key": ATTR_SOURCE, "value": source},
        {"key": ATTR_ORDER_ID, "value": order_id},
    ]
    if name:
        attributes.append({"key": ATTR_ORDER_NAME, "value": name})
    if crm_shop:
        attributes.append({"key": ATTR_CRM_SHOP, "value": crm_shop})
    return attributes


def _attributes(payload: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in payload.get("note_attributes") or payload.get("customAttributes") or []:
        if isinstance(item, dict):
            key = item.get("name", item.get("key"))
            if key is not None and item.get("value") is not None:
                found[str(key)] = str(item["value"])
    return found


def crm_ref(payload: dict[str, Any]) -> CrmRef | None:
    """The CRM order behind a Shopify order payload (REST/webhook shape), or None.

    ``source_identifier`` decides when present; otherwise both custom attributes are needed
    (a merchant could type one tag by hand, not a pair of attributes by accident).
    """
    attributes = _attributes(payload)
    ref = parse_source_identifier(payload.get("source_identifier"))
    name, shop = attributes.get(ATTR_ORDER_NAME), attributes.get(ATTR_CRM_SHOP)
    if ref is not None:
        return CrmRef(ref.source, ref.order_id, name, shop)
    source, order_id = attributes.get(ATTR_SOURCE), attributes.get(ATTR_ORDER_ID)
    if source and order_id and source != "shopify":
        return CrmRef(source, order_id, name, shop)
    return None
