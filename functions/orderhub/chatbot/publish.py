"""Publishing the chat-bot's events: the concurrent requests of one instance share one
``Publish`` RPC (``orderhub.groupcommit``), as the webhook's claims and publishes do.

No claim: a contact post carries no delivery id to claim, and none is needed: the same
post gives the same ``event_id``, which the views de-duplicate.
"""

from __future__ import annotations

from orderhub.bus import MAX_PUBLISH_BYTES, Message, PubSubBatchPublisher, message
from orderhub.errors import TransientError
from orderhub.event import Event
from orderhub.groupcommit import GroupCommit


class BatchedBus:
    """``publish(event)`` waits for the server's message id; ``TransientError`` on failure
    or when ``deadline_s`` passes."""

    def __init__(self, publisher: PubSubBatchPublisher, *, deadline_s: float) -> None:
        self._publisher = publisher
        self._deadline_s = deadline_s
        self._group: GroupCommit[Message, str] = GroupCommit(
            self._send, max_items=500, max_bytes=MAX_PUBLISH_BYTES
        )

    def __call__(self, event: Event) -> None:
        data, attrs = message(event)
        self._group.submit(
            (data, attrs), key=event["event_id"], deadline_s=self._deadline_s, size=len(data) + 512
        )

    def _send(self, batch: list[Message], budget: float) -> list[str | TransientError]:
        if budget <= 0:
            raise TransientError("no time left to publish")
        return list(self._publisher.publish_all(batch, timeout=budget))
