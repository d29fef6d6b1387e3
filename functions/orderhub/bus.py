"""Publishing canonical events to Pub/Sub."""

from __future__ import annotations

from typing import Any, Protocol

from orderhub.errors import TransientError
from orderhub.event import Event, encode

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
