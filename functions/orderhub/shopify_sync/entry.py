"""CloudEvent adapter: one canonical event from ``order-events`` → writes into Shopify.

Wires the real clients (one Admin API writer per shop, each with its own cost bucket)
and hands the event to ``orderhub.shopify_sync.sync.handle``. ``TransientError`` propagates
so Pub/Sub redelivers; a message that is not an event is left to crm_writer's quarantine.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta

from orderhub import gcp, logs
from orderhub.bus import PubSubBus
from orderhub.errors import PoisonMessage
from orderhub.event import decode
from orderhub.pubsub import message_data
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.writer import PacedThrottle, ShopifyWriter
from orderhub.shopify_sync.links import FirestoreOrderRate, firestore_links
from orderhub.shopify_sync.settings import ShopifySyncSettings
from orderhub.shopify_sync.sync import BigQuerySyncLog, Deps
from orderhub.shopify_sync.sync import handle as sync
from orderhub.sinks.bigquery import BigQueryInserter
from orderhub.switches import FirestoreSwitches, Switches


@functools.cache
def _settings() -> ShopifySyncSettings:
    return ShopifySyncSettings.from_env()


@functools.cache
def _writer(shop: str) -> ShopifyWriter:
    import requests

    admin = _settings().admin(shop)
    client = ShopifyAdmin(
        base_url=admin.url,
        access_token=admin.token,
        session=requests.Session(),
        api_version=admin.api_version,
        timeout=10.0,
    )
    return ShopifyWriter(client.response, PacedThrottle(sleep=time.sleep))


@functools.cache
def _deps() -> Deps:
    settings = _settings()
    firestore = gcp.firestore_client(settings.project)
    switches = FirestoreSwitches(firestore, f"{settings.firestore_prefix}sync_settings")
    inserter = BigQueryInserter(
        gcp.bigquery_client(settings.project, settings.bigquery_endpoint), settings.dataset
    )

    def read_switches(shop: str) -> Switches:
        return switches.get(shop)

    return Deps(
        writer=_writer,
        links=firestore_links(firestore, settings.firestore_prefix),
        switches=read_switches,
        rate=FirestoreOrderRate(firestore, f"{settings.firestore_prefix}sync_rate"),
        log=BigQuerySyncLog(inserter),
        alerts=PubSubBus(gcp.publisher(), gcp.topic_path(settings.project, settings.topic)),
        now=_now,
        sleep=time.sleep,
        lease=timedelta(seconds=settings.lease_seconds),
        shop_of=settings.shop_of,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def handle(cloud_event: object) -> None:
    try:
        data, message_id = message_data(cloud_event)
        event = decode(data)
    except PoisonMessage as poison:
        logs.warning("shopify_sync: a message is not an event", reason=poison.reason)
        return  # crm_writer quarantines it and the notifier alerts
    result = sync(event, _deps())
    if result is not None and result.outcomes:
        logs.info(
            "event synced",
            event_id=event["event_id"],
            message_id=message_id,
            outcomes=[f"{o.entity}:{o.status}" for o in result.outcomes],
        )
