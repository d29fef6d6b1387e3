"""Subscribing a shop's webhooks to OrderHub's webhook URL (``webhookSubscriptionCreate``),
shared by ``scripts/shopify_register_webhooks`` and the CRM app's install flow.

Every topic ``orderhub.sources.shopify.TOPICS`` handles (compliance topics excepted:
Shopify takes those in the app's settings), and for a merchant's installation
``app/uninstalled`` too (``extra``); topics already
subscribed to the URL are left alone, so registering twice is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orderhub.sources.shopify import COMPLIANCE_TOPICS, TOPICS

#: Sent when a merchant uninstalls the app: the shop is disconnected and its sync stops.
APP_UNINSTALLED = "app/uninstalled"

EXISTING = """
query Existing($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}
"""

CREATE = """
mutation Subscribe($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""

Call = Callable[[str, dict[str, Any]], dict[str, Any]]  # (query, variables) -> data


class SubscriptionRefused(Exception):
    """Shopify refused a subscription (its userErrors)."""


def graphql_topic(rest_topic: str) -> str:
    """``orders/partially_fulfilled`` -> ``ORDERS_PARTIALLY_FULFILLED`` (the GraphQL enum)."""
    return rest_topic.replace("/", "_").upper()


def wanted_topics(extra: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        {graphql_topic(t) for t in TOPICS if t not in (*COMPLIANCE_TOPICS, APP_UNINSTALLED)}
        | {graphql_topic(t) for t in extra}
    )


def existing(call: Call) -> set[tuple[str, str]]:
    """(topic, uri) of every subscription the app has on this shop."""
    found: set[tuple[str, str]] = set()
    after = None
    while True:
        page = call(EXISTING, {"after": after})["webhookSubscriptions"]
        found |= {(n["topic"], n.get("uri") or "") for n in page["nodes"]}
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def subscribe(call: Call, topic: str, uri: str) -> str:
    data = call(CREATE, {"topic": topic, "sub": {"uri": uri, "format": "JSON"}})
    result = data["webhookSubscriptionCreate"]
    if result["userErrors"]:
        problems = "; ".join(e["message"] for e in result["userErrors"])
        raise SubscriptionRefused(f"{topic}: {problems}")
    return str(result["webhookSubscription"]["id"])


def register(
    call: Call,
    uri: str,
    *,
    extra: tuple[str, ...] = (),
    dry_run: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Subscribe every missing topic to ``uri``; the GraphQL topics created."""
    have = existing(call)
    created = []
    for topic in wanted_topics(extra):
        if (topic, uri) in have:
            say(f"  {topic:32} already subscribed")
            continue
        if dry_run:
            say(f"  {topic:32} would subscribe")
        else:
            say(f"  {topic:32} subscribed ({subscribe(call, topic, uri)})")
        created.append(topic)
    return created
