"""A small client for Shopify's GraphQL Admin API (``POST /admin/api/{version}/graphql.json``).

Only what OrderHub calls: ``graphql`` for any document, and ``draft_order_create`` for the
order form's "send the customer a link" mode. Authentication is an Admin API access
token in ``X-Shopify-Access-Token`` from a ``tokens.TokenSource`` (client credentials,
an expiring offline token, or a legacy static token); a 401 makes the source drop the
token and the request is sent once more with a new one. Failures are told apart the way
callers act on them:

* ``TransientError``: network trouble, 429 (throttled) or 5xx; try again later.
* ``ConfigError``: 401/403/404: the token, scopes or shop are wrong; fix the settings.
* ``ShopifyRejected``: Shopify answered but refused (GraphQL ``errors`` or ``userErrors``);
  its ``messages`` are fit to show to a manager.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from orderhub.errors import ConfigError, OrderHubError, TransientError
from orderhub.shopify import versions
from orderhub.shopify.tokens import StaticToken, TokenSource
from orderhub.shopify.versions import DEFAULT_API_VERSION as DEFAULT_API_VERSION

DRAFT_ORDER_CREATE = """
mutation orderhubDraftOrderCreate($input: DraftOrderInput!) {
  draftOrderCreate(input: $input) {
    draftOrder {
      id
      name
      invoiceUrl
      status
      totalPriceSet { shopMoney { amount currencyCode } }
    }
    userErrors { field message }
  }
}
"""


class ShopifyRejected(OrderHubError):
    """Shopify understood the request and refused it; ``messages`` say why."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


@dataclass(frozen=True)
class DraftOrder:
    id: str
    name: str
    invoice_url: str
    total: str | None = None
    currency: str | None = None


class DraftLineLike(Protocol):
    """What a draft order needs of a line; the form's ``manual.Line`` has it as it is."""

    @property
    def title(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def variant_id(self) -> str | None: ...
    @property
    def sku(self) -> str | None: ...


def variant_gid(variant_id: str) -> str:
    if variant_id.startswith("gid://"):
        return variant_id
    return f"gid://shopify/ProductVariant/{variant_id}"


def draft_order_input(
    lines: Sequence[DraftLineLike],
    *,
    currency: str,
    note: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    tags: Sequence[str] = (),
    attributes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A ``DraftOrderInput``: variants keep their identity with the manager's price as a
    ``priceOverride``; custom items carry title, SKU and ``originalUnitPriceWithCurrency``."""
    items: list[dict[str, Any]] = []
    for line in lines:
        price = {"amount": str(line.unit_price), "currencyCode": currency}
        if line.variant_id:
            items.append(
                {
                    "variantId": variant_gid(line.variant_id),
                    "quantity": line.quantity,
                    "priceOverride": price,
                }
            )
        else:
            item: dict[str, Any] = {
                "title": line.title,
                "quantity": line.quantity,
                "originalUnitPriceWithCurrency": price,
            }
            if line.sku:
                item["sku"] = line.sku
            items.append(item)
    result: dict[str, Any] = {"lineItems": items, "tags": list(tags)}
    if note:
        result["note"] = note
    if email:
        result["email"] = email
    if phone:
        result["phone"] = phone
    if attributes:
        result["customAttributes"] = [{"key": k, "value": v} for k, v in attributes.items()]
    return result


class ShopifyAdmin:
    """GraphQL Admin API over ``requests``; one session reused for keep-alive."""

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str = "",
        session: Any,
        tokens: TokenSource | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 10.0,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/admin/api/{api_version}/graphql.json"
        self.api_version = api_version
        #: The version Shopify says answered the last request (``X-Shopify-Api-Version``).
        self.answered_version: str | None = None
        self._tokens: TokenSource = tokens or StaticToken(access_token)
        self._session = session
        self._timeout = timeout

    def response(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole GraphQL answer (``data``, ``errors``, ``extensions``) of a 200.

        For callers that pace themselves by the cost figures (reconciliation); transport
        failures, 429 and 5xx raise ``TransientError``, 401/403/404 ``ConfigError``.
        """
        response = self._post(query, variables)
        answered = (getattr(response, "headers", None) or {}).get("X-Shopify-Api-Version")
        if answered and answered != self.answered_version:
            versions.answered(self.api_version, answered)
        self.answered_version = answered or self.answered_version
        if response.status_code in (401, 403, 404):
            raise ConfigError(
                f"Shopify Admin API answered {response.status_code}: check the app's"
                " credentials (SHOPIFY_CLIENT_ID/SECRET or SHOPIFY_ADMIN_TOKEN), its scopes"
                " and the shop domain"
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"Shopify Admin API answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError("Shopify Admin API answered with something not JSON") from exc
        if not isinstance(body, dict):
            raise TransientError("Shopify Admin API answered with something not an object")
        return body

    def _post(self, query: str, variables: dict[str, Any] | None) -> Any:
        """POST once; on 401, once more with a new token if the source can get one."""
        import requests

        for attempt in range(2):
            token = self._tokens.token()
            try:
                response = self._session.post(
                    self.url,
                    json={"query": query, "variables": variables or {}},
                    headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
                    timeout=self._timeout,
                )
            except requests.RequestException as exc:
                raise TransientError(
                    f"Shopify Admin API unreachable: {exc.__class__.__name__}"
                ) from exc
            if response.status_code != 401 or attempt or not self._tokens.rejected(token):
                return response
        raise AssertionError("unreachable")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a GraphQL answer; raises as the module docstring says."""
        body = self.response(query, variables)
        errors = body.get("errors")
        if errors:
            if isinstance(errors, list) and any(
                (e.get("extensions") or {}).get("code") == "THROTTLED"
                for e in errors
                if isinstance(e, dict)
            ):
                raise TransientError("Shopify Admin API throttled the request")
            messages = (
                [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
                if isinstance(errors, list)
                else [str(errors)]
            )
            raise ShopifyRejected(messages)
        if not isinstance(body.get("data"), dict):
            raise TransientError("Shopify Admin API answered without data")
        data: dict[str, Any] = body["data"]
        return data

    def draft_order_create(self, draft_input: dict[str, Any]) -> DraftOrder:
        data = self.graphql(DRAFT_ORDER_CREATE, {"input": draft_input})
        payload = data.get("draftOrderCreate") or {}
        user_errors = payload.get("userErrors") or []
        if user_errors:
            raise ShopifyRejected([str(e.get("message")) for e in user_errors])
        draft = payload.get("draftOrder")
        if not draft or not draft.get("invoiceUrl"):
            raise ShopifyRejected(["Shopify created no draft order"])
        money = ((draft.get("totalPriceSet") or {}).get("shopMoney")) or {}
        return DraftOrder(
            id=str(draft["id"]),
            name=str(draft.get("name") or ""),
            invoice_url=str(draft["invoiceUrl"]),
            total=money.get("amount"),
            currency=money.get("currencyCode"),
        )
