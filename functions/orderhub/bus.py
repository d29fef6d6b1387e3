"""Publishing canonical events to Pub/Sub."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from orderhub.errors import TransientError
from orderhub.event import Event, encode
from orderhub.stores import Claims

PUBLISH_TIMEOUT_S = 10.0


class Bus(Protocol):
    def publish(self, event: Event) -> str:
        """Publish and wait for the server's message id; ``TransientError`` on failure."""
        ...


class PubSubBus:
    def __init__(self, client: Any, topic_path: str) -> None:
        self._client = client
        self._topic = topic_path

    def publish(self, event: Event) -> str:
        future = self._client.publish(
            self._topic,
            encode(event),
            event_type=event["event_type"],
            source=event["source"],
            shop=event["shop"],
        )
        try:
            return str(future.result(timeout=PUBLISH_TIMEOUT_S))
        except Exception as exc:  # the future re-raises whatever the RPC raised
            raise TransientError(f"publish to {self._topic} failed: {exc}") from exc


def publish_once(
    event: Event, *, key: str, record: dict[str, Any], claims: Claims, bus: Bus, at: datetime
) -> bool:
    """Claim ``key`` and publish ``event``; ``False`` if someone already claimed it.

    The claim comes first, so of two racing deliveries exactly one publishes. If the
    publish fails the claim is released and the error raised, so the sender's retry (a
    Shopify redelivery, a Pub/Sub redelivery, the manager's second tap) finds it unclaimed.
    Should the release fail too, the claim stays: the periodic catch-ups (Shopify
    reconciliation, Gmail history sync) are the backstop for that double fault.
    """
    if not claims.claim(key, record, now=at):
        return False
    try:
        bus.publish(event)
    except TransientError:
        try:
            claims.release(key)
        except TransientError:
            pass
        raise
    return True
