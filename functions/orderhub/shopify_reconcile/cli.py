"""``scripts/shopify_backfill``: bring a new shop's history into the CRM.

Runs Shopify bulk exports (orders, customers, products) and publishes every object as a
canonical event on ``ORDER_EVENTS_TOPIC``; crm_writer appends them as usual, the notifier
skips them (``origin: backfill``). Safe to run again: the same versions are the same events.

Settings come from the environment (GOOGLE_CLOUD_PROJECT, ORDER_EVENTS_TOPIC, and the
shops' Admin API as the sync has them: SHOPIFY_ADMIN_TOKENS / SHOPIFY_ADMIN_URLS, or
SHOPIFY_ADMIN_TOKEN for SHOPIFY_SHOP_DOMAIN), or with ``--dev`` from the local stack's
``.dev/endpoints.env``. ``--shop`` names the shop (default: SHOPIFY_SHOP_DOMAIN, or the one
shop configured). What a shop's inbound switch holds is published held
(``orderhub.inbound``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from orderhub import gcp
from orderhub.bus import PubSubBus
from orderhub.config import DEFAULT_ORDER_EVENTS_TOPIC, app_database, load_dev_env, project_id
from orderhub.errors import ConfigError
from orderhub.inbound import HoldingBus
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.settings import admin_shops, own_app_ids
from orderhub.shopify_reconcile.backfill import backfill
from orderhub.shopify_reconcile.reconcile import RESOURCES
from orderhub.switches import CachedSwitches, FirestoreSwitches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Backfill a Shopify shop into the CRM.")
    parser.add_argument("--resource", choices=[*RESOURCES, "all"], default="all")
    parser.add_argument("--dev", action="store_true", help="use the local stack's endpoints")
    parser.add_argument("--shop", help="shop domain (default: SHOPIFY_SHOP_DOMAIN)")
    args = parser.parse_args(argv)
    if args.dev:
        load_dev_env()

    import requests
    from tqdm import tqdm

    try:
        shops = admin_shops(os.environ)
        app_ids = own_app_ids(os.environ)
    except ConfigError as exc:
        parser.error(str(exc))
    shop = (args.shop or os.environ.get("SHOPIFY_SHOP_DOMAIN", "")).strip().lower()
    if not shop and len(shops) == 1:
        shop = next(iter(shops))
    if shop not in shops:
        known = ", ".join(sorted(shops))
        parser.error(f"no Admin API token for shop {shop or '(none named)'}; configured: {known}")
    admin_settings = shops[shop]
    project = project_id(os.environ)
    session = requests.Session()
    admin = ShopifyAdmin(
        base_url=admin_settings.url,
        tokens=admin_settings.token_source(session),
        api_version=admin_settings.api_version,
        session=session,
        timeout=60.0,
    )
    topic = os.environ.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC)
    firestore_prefix = os.environ.get("FIRESTORE_PREFIX", "")
    switches = FirestoreSwitches(
        gcp.firestore_client(project, app_database(os.environ)), f"{firestore_prefix}sync_settings"
    )
    cached = CachedSwitches(switches.get, ttl_s=30.0, clock=time.monotonic)
    bus = HoldingBus(PubSubBus(gcp.publisher(), gcp.topic_path(project, topic)), cached)

    def download(url: str) -> Iterator[str]:
        with session.get(url, stream=True, timeout=60) as response:
            response.raise_for_status()
            yield from response.iter_lines(decode_unicode=True)

    resources = list(RESOURCES) if args.resource == "all" else [args.resource]
    for resource in resources:
        bar: Any = tqdm(desc=resource, unit=" objects", file=sys.stderr)

        def on_status(status: dict[str, Any], bar: Any = bar) -> None:
            bar.set_postfix_str(str(status.get("status", "")).lower())
            if status.get("rootObjectCount"):
                bar.total = int(status["rootObjectCount"])
                bar.refresh()

        summary = backfill(
            shop=admin_settings.shop,
            resource=resource,
            graphql=admin.response,
            download=download,
            bus=bus,
            now=lambda: datetime.now(UTC),
            on_status=on_status,
            progress=bar.update,
            own_app_ids=app_ids,
        )
        bar.close()
        print(json.dumps({"shop": admin_settings.shop, **asdict(summary)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
