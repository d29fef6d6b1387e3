"""How our own writes are marked in Shopify, and how to recognise them when they come back.

Pure code, shared by the outbound writer, the webhook normaliser, reconciliation, backfill
and the release of held events. **Identity is the ``sourceIdentifier`` and the app that
created the order, nothing else**:

* ``sourceIdentifier`` = ``orderhub:<source>:<crm order id>``, or, when the CRM keys the
  order by something else than the Shopify shop (e-mail orders are keyed by the mailbox
  that received them), ``orderhub@<crm shop>:<source>:<crm order id>``. The CRM's key of an
  order is its shop key, source and id together (two mailboxes, or two marketplaces, may
  both have an order 1001), so all of them go in. It is set by the API call that creates
  the order, searchable as ``source_identifier:"…"``, and neither a customer nor the cart
  can set it.
* the order's app (``app_id`` in webhooks, ``app { id }`` in GraphQL) must be one of ours
  (``SHOPIFY_APP_IDS``). A missing app id is foreign: an order of the online store carries
  the store's app, never ours.

Custom attributes (``note_attributes``) ``orderhub_source``, ``orderhub_order_id``,
``orderhub_order_name`` and ``orderhub_shop`` are still written, for people reading the
order in the admin, but they **never decide identity**: Shopify copies cart attributes
into note attributes, and anyone can set those from the storefront (``/cart/update.js``,
a cart link with ``attributes[...]``). The tags ``orderhub`` and
``orderhub-source:<source>`` are for staff only.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    shop: str | None = None  # the CRM's shop key, when it is not the Shopify shop


def source_identifier(source: str, order_id: str, crm_shop: str | None = None) -> str:
    """Our ``sourceIdentifier``; ``crm_shop`` only when it differs from the Shopify shop."""
    if crm_shop:
        if ":" in crm_shop:
            raise ValueError(f"a CRM shop key cannot hold ':': {crm_shop!r}")
        return f"{PREFIX}@{crm_shop}:{source}:{order_id}"
    return f"{PREFIX}:{source}:{order_id}"


def parse_source_identifier(value: Any) -> CrmRef | None:
    if not isinstance(value, str):
        return None
    shop: str | None = None
    if value.startswith(PREFIX + "@"):
        shop, sep, rest = value[len(PREFIX) + 1 :].partition(":")
        if not sep or not shop:
            return None
    elif value.startswith(PREFIX + ":"):
        rest = value[len(PREFIX) + 1 :]
    else:
        return None
    source, _, order_id = rest.rpartition(":")
    if not source or not order_id or source == "shopify":
        return None
    return CrmRef(source, order_id, None, shop)


def search_query(source: str, order_id: str, crm_shop: str | None = None) -> str:
    """Shopify's search for our order: quoted, so ``:`` and spaces are not tokenised."""
    value = source_identifier(source, order_id, crm_shop)
    value = value.replace("\\", "\\\\").replace('"', '\\"')
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


def app_id_of(payload: dict[str, Any]) -> str | None:
    """The id of the app that created the order: ``app_id`` (webhook) or ``app.id`` (GraphQL,
    a ``gid://shopify/App/N``), as the bare number."""
    value = payload.get("app_id")
    if value in (None, "") and isinstance(payload.get("app"), dict):
        value = payload["app"].get("id")
    if value in (None, ""):
        return None
    return str(value).rsplit("/", 1)[-1]


def normalise_app_ids(values: Iterable[str]) -> frozenset[str]:
    """``SHOPIFY_APP_IDS`` items (numbers or ``gid://shopify/App/N``) as bare numbers."""
    return frozenset(v.strip().rsplit("/", 1)[-1] for v in values if v and v.strip())


def crm_ref(payload: dict[str, Any], own_app_ids: frozenset[str]) -> CrmRef | None:
    """The CRM order behind a Shopify order payload (REST/webhook shape), or None.

    Only ``source_identifier`` on an order created by one of ``own_app_ids`` makes an order
    ours. Attributes only add the CRM order's name (and, for orders written before the
    identifier carried it, the CRM shop key) to an order already proven ours.
    """
    ref = parse_source_identifier(payload.get("source_identifier"))
    if ref is None:
        return None
    app_id = app_id_of(payload)
    if app_id is None or app_id not in own_app_ids:
        return None  # a missing app id is foreign; another app's order is its own
    attributes = _attributes(payload)
    shop = ref.shop or attributes.get(ATTR_CRM_SHOP)
    return CrmRef(ref.source, ref.order_id, attributes.get(ATTR_ORDER_NAME), shop)


# -------------------------------------------------------------------- products
#: A product made in the CRM app carries this tag in Shopify: ``orderhub-product:<crm id>``.
#: Shopify's product webhooks name no app and carry no ``sourceIdentifier``; the tag is
#: written by our create, comes back in every ``products/*`` payload and can be set by the
#: shop's staff only (never by a customer), so the echo joins the CRM product by it.
PRODUCT_TAG = f"{PREFIX}-product:"


def product_tag(crm_product_id: str) -> str:
    return f"{PRODUCT_TAG}{crm_product_id}"


def crm_product_of(tags: Iterable[str]) -> str | None:
    """The CRM product id a Shopify product was created from (its tag), or None."""
    for tag in tags:
        text = str(tag).strip()
        if text.startswith(PRODUCT_TAG) and len(text) > len(PRODUCT_TAG):
            return text[len(PRODUCT_TAG) :]
    return None


def product_search(crm_product_id: str) -> str:
    """Shopify's search for the product we created from a CRM product (quoted tag)."""
    value = product_tag(crm_product_id).replace("\\", "\\\\").replace('"', '\\"')
    return f'tag:"{value}"'
