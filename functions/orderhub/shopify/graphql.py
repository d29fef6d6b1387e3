"""Calling the GraphQL Admin API politely: cost-based throttling and THROTTLED retries.

``GraphQL`` is any callable that POSTs a document with variables and returns the whole
response body (``data``, ``errors``, ``extensions``); the real one is
``orderhub.shopify.admin.AdminClient.graphql_response``. Shopify charges each query its
calculated cost from a leaky bucket and reports the bucket in
``extensions.cost.throttleStatus``; we wait before a call that the bucket cannot pay for,
and back off and retry when Shopify answers ``THROTTLED`` anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orderhub.errors import TransientError

GraphQL = Callable[[str, dict[str, Any]], dict[str, Any]]
Sleep = Callable[[float], None]

MAX_THROTTLED_RETRIES = 8


@dataclass
class CostThrottle:
    """Remembers the last ``throttleStatus`` and waits until the next call is affordable."""

    sleep: Sleep
    available: float | None = None
    restore_rate: float = 50.0
    last_cost: float = 0.0
    waited: float = field(default=0.0)

    def before_call(self) -> None:
        if self.available is None or self.available >= self.last_cost:
            return
        pause = (self.last_cost - self.available) / max(self.restore_rate, 1.0)
        self.waited += pause
        self.sleep(pause)

    def after_call(self, body: dict[str, Any]) -> None:
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        if "currentlyAvailable" in status:
            self.available = float(status["currentlyAvailable"])
            self.restore_rate = float(status.get("restoreRate") or self.restore_rate)
        if cost.get("requestedQueryCost") is not None:
            self.last_cost = float(cost["requestedQueryCost"])


def is_throttled(body: dict[str, Any]) -> bool:
    return any(
        (error.get("extensions") or {}).get("code") == "THROTTLED"
        or error.get("message") == "Throttled"
        for error in body.get("errors") or []
    )


def call(graphql: GraphQL, throttle: CostThrottle, query: str, variables: dict[str, Any]) -> Any:
    """``data`` of one query, waiting for the bucket and retrying THROTTLED answers."""
    for _attempt in range(MAX_THROTTLED_RETRIES):
        throttle.before_call()
        body = graphql(query, variables)
        throttle.after_call(body)
        if is_throttled(body):
            # The bucket could not pay: make before_call wait for the full requested cost.
            throttle.available = min(throttle.available or 0.0, 0.0)
            continue
        if body.get("errors"):
            messages = "; ".join(str(e.get("message")) for e in body["errors"])
            raise TransientError(f"Shopify GraphQL errors: {messages}")
        return body.get("data") or {}
    raise TransientError(f"Shopify kept throttling after {MAX_THROTTLED_RETRIES} tries")
