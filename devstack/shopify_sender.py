"""Send signed Shopify webhooks the way Shopify does: for the demo, tests and benchmarks."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import requests

from orderhub.shopify.versions import DEFAULT_API_VERSION
from orderhub.shopify_webhook.receive import signature

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "shopify"


def fixture(name: str) -> dict[str, Any]:
    """A Shopify fixture, unwrapped from its REST envelope (``{"order": {...}}``)."""
    data = json.loads((FIXTURES / f"shopify_python_api__{name}.json").read_text())
    return data[name] if name in data else data


def headers(
    *, shop: str, secret: str, topic: str, body: bytes, webhook_id: str | None = None
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": signature(secret, body),
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-API-Version": DEFAULT_API_VERSION,
        "X-Shopify-Triggered-At": "2026-01-01T00:00:00.000000000Z",
    }


def send(
    url: str,
    *,
    shop: str,
    secret: str,
    topic: str,
    payload: dict[str, Any] | bytes,
    webhook_id: str | None = None,
    session: requests.Session | None = None,
) -> requests.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    poster = session or requests
    return poster.post(
        url,
        data=body,
        headers=headers(shop=shop, secret=secret, topic=topic, body=body, webhook_id=webhook_id),
        timeout=10,
    )
