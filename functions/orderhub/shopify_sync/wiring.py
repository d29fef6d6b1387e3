"""The real collaborators of ``shopify_sync``: one Admin API writer per shop, each with
its own cost bucket, the links, switches, rate, log and alerts (``sync.Deps``)."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta

from orderhub import gcp
from orderhub.bus import PubSubBus
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.writer import PacedThrottle, ShopifyWriter
from orderhub.shopify_sync.links import FirestoreOrderRate, firestore_links
from orderhub.shopify_sync.settings import ShopifySyncSettings
from orderhub.shopify_sync.sync import BigQuerySyncLog, Deps
from orderhub.sinks.bigquery import BigQueryInserter
from orderhub.switches import FirestoreSwitches, Switches


@functools.cache
def settings() -> ShopifySyncSettings:
    return ShopifySyncSettings.from_env()


@functools.cache
def writer(shop: str) -> ShopifyWriter:
    import requests

    admin = settings().admin(shop)
    session = requests.Session()
    client = ShopifyAdmin(
        base_url=admin.url,
        tokens=admin.token_source(session),
        session=session,
        api_version=admin.api_version,
        timeout=10.0,
    )
    return ShopifyWriter(client.response, PacedThrottle(sleep=time.sleep))


@functools.cache
def deps() -> Deps:
    s = settings()
    firestore = gcp.firestore_client(s.project)
    switches = FirestoreSwitches(firestore, f"{s.firestore_prefix}sync_settings")
    inserter = BigQueryInserter(gcp.bigquery_client(s.project, s.bigquery_endpoint), s.dataset)

    def read_switches(shop: str) -> Switches:
        return switches.get(shop)

    return Deps(
        writer=writer,
        links=firestore_links(firestore, s.firestore_prefix),
        switches=read_switches,
        rate=FirestoreOrderRate(firestore, f"{s.firestore_prefix}sync_rate"),
        log=BigQuerySyncLog(inserter),
        alerts=PubSubBus(gcp.publisher(), gcp.topic_path(s.project, s.topic)),
        now=now,
        sleep=time.sleep,
        lease=timedelta(seconds=s.lease_seconds),
        settle=timedelta(seconds=s.settle_seconds),
        shop_of=s.shop_of,
        log_key=s.digest_key,
    )


def now() -> datetime:
    return datetime.now(UTC)
