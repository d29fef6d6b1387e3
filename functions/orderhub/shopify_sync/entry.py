"""CloudEvent adapter: one canonical event from ``order-events`` → writes into Shopify.

Wires the real clients (one Admin API writer per shop, each with its own cost bucket)
and hands the event to ``orderhub.shopify_sync.sync.handle``. ``TransientError`` propagates
so Pub/Sub redelivers; a message that is not an event is left to crm_writer's quarantine.
"""

from __future__ import annotations

from orderhub import logs
from orderhub.errors import PoisonMessage
from orderhub.event import decode
from orderhub.pubsub import message_data
from orderhub.shopify_sync import wiring
from orderhub.shopify_sync.sync import handle as sync


def handle(cloud_event: object) -> None:
    try:
        data, message_id = message_data(cloud_event)
        event = decode(data)
    except PoisonMessage as poison:
        logs.warning("shopify_sync: a message is not an event", reason=poison.reason)
        return  # crm_writer quarantines it and the notifier alerts
    result = sync(event, wiring.deps())
    if result is not None and result.outcomes:
        logs.info(
            "event synced",
            event_id=event["event_id"],
            message_id=message_id,
            outcomes=[f"{o.entity}:{o.status}" for o in result.outcomes],
        )
