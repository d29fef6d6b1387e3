"""HTTP adapter for Shopify webhooks: the core is ``receive``; collaborators, ``wiring``."""

from __future__ import annotations

from typing import Any

from orderhub import logs
from orderhub.errors import BodyTooLarge, TransientError, Unauthenticated
from orderhub.shopify_webhook import wiring
from orderhub.shopify_webhook.receive import admit, header, receive

REFUSED = {Unauthenticated: ("unauthorized\n", 401), BodyTooLarge: ("payload too large\n", 413)}


def handle(request: Any) -> tuple[str, int]:
    if request.method != "POST":
        return "POST only\n", 405
    s, headers = wiring.settings(), request.headers
    about = {"topic": header(headers, "Topic"), "webhook_id": header(headers, "Webhook-Id")}
    try:
        admit(  # before a byte of the body is read
            headers,
            shop_secrets=s.shop_secrets,
            content_length=request.content_length,
            max_body_bytes=s.max_body_bytes,
        )
        body = request.get_data(cache=False)
        outcome = receive(headers=headers, body=body, **wiring.collaborators())
    except (Unauthenticated, BodyTooLarge) as exc:
        logs.warning("webhook refused", **about, error=str(exc))
        return REFUSED[type(exc)]
    except TransientError as exc:
        logs.error("webhook not accepted, Shopify will retry", **about, error=str(exc))
        return "temporarily unavailable\n", 503
    logs.info(
        f"webhook {outcome.status}", **about, event_id=outcome.event_id, reason=outcome.reason
    )
    return f"{outcome.status}\n", 200
