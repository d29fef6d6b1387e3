"""The real collaborators of ``shopify_sync``: one Admin API writer per shop, each with
its own cost bucket, the links, switches, rate, log and alerts (``sync.Deps``)."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta

from orderhub import gcp
from orderhub.bus import PubSubBus
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.installations import Installations, disconnected_reason, installed_tokens
from orderhub.shopify.tokens import TokenSource
from orderhub.shopify.writer import PacedThrottle, ShopifyWriter
from orderhub.shopify_sync.links import FirestoreOrderRate, firestore_links
from orderhub.shopify_sync.settings import ShopifySyncSettings
from orderhub.shopify_sync.sync import BigQuerySyncLog, Deps
from orderhub.sinks.bigquery import BigQueryInserter
from orderhub.switches import ENTITIES, FirestoreSwitches, Switches


@functools.cache
def settings() -> ShopifySyncSettings:
    return ShopifySyncSettings.from_env()


@functools.cache
def installations() -> Installations:
    """Shops of other merchants, connected through the CRM app's install flow (in the
    app's database, where the app stores the grant)."""
    s = settings()
    return Installations(gcp.firestore_client(s.project, s.app_database), s.firestore_prefix)


@functools.cache
def writer(shop: str) -> ShopifyWriter:
    """One shop's writer: an installed shop's expiring offline token, else the app's
    client credentials (or a legacy token)."""
    import requests

    s = settings()
    session = requests.Session()
    url = s.urls.get(shop) or f"https://{shop}"
    first = next(iter(s.admins.values()), None)
    client_id, secret = (first.client_id, first.client_secret) if first else ("", "")
    tokens: TokenSource | None = installed_tokens(
        installations(), shop, url, client_id, secret, session
    )
    if tokens is None:
        admin = s.admin(shop)
        url, tokens = admin.url, admin.token_source(session)
    client = ShopifyAdmin(
        base_url=url,
        tokens=tokens,
        session=session,
        api_version=s.api_version,
        timeout=10.0,
    )
    return ShopifyWriter(client.response, PacedThrottle(sleep=time.sleep))


@functools.cache
def deps() -> Deps:
    s = settings()
    firestore = gcp.firestore_client(s.project)
    app = gcp.firestore_client(s.project, s.app_database)  # the owner's switches
    switches = FirestoreSwitches(app, f"{s.firestore_prefix}sync_settings")
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
        shop_of=shop_of,
        disconnected=lambda shop: disconnected_reason(installations(), shop),
        uninstall=lambda shop, at: uninstall(switches, shop, at),
        log_key=s.digest_key,
    )


def shop_of(crm_shop: str) -> str | None:
    """An installed shop is its own (connected or not: a disconnected one is skipped with
    its reason); else the settings' shops."""
    key = crm_shop.lower()
    if installations().get(key) is not None:
        return key
    return settings().shop_of(crm_shop)


def uninstall(switches: FirestoreSwitches, shop: str, at: datetime) -> bool:
    """``app/uninstalled``: disconnect the installation, then switch the shop's outbound
    sync off (its owner switches it on again after connecting it anew)."""
    if not installations().disconnect(shop, before=at):
        return False
    current = switches.get(shop)
    switches.put(shop, current.changed({f"outbound.{e}": "off" for e in ENTITIES}))
    return True


def now() -> datetime:
    return datetime.now(UTC)
