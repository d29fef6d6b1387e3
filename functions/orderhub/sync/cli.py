"""``scripts/shopify_backfill``: bring a new shop's history into the CRM.

Runs Shopify bulk exports (orders, customers, products) and publishes every object as a
canonical event on ``ORDER_EVENTS_TOPIC``; crm_writer appends them as usual, the notifier
skips them (``origin: backfill``). Safe to run again: the same versions are the same events.

Settings come from the environment (GOOGLE_CLOUD_PROJECT, SHOPIFY_SHOP_DOMAIN,
SHOPIFY_ADMIN_TOKEN, ORDER_EVENTS_TOPIC), or with ``--dev`` from the local stack's
``.dev/endpoints.env``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orderhub import gcp
from orderhub.bus import PubSubBus
from orderhub.settings import DEFAULT_ORDER_EVENTS_TOPIC, ShopifyAdminSettings, project_id
from orderhub.shopify_admin import ShopifyAdmin
from orderhub.sync.backfill import backfill
from orderhub.sync.reconcile import RESOURCES


def _load_dev_env(state_dir: Path) -> None:
    path = state_dir / "endpoints.env"
    if not path.exists():
        raise SystemExit(f"{path} not found: start the stack with scripts/dev up")
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            os.environ[key] = value[1:-1] if value[:1] == value[-1:] == "'" else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Backfill a Shopify shop into the CRM.")
    parser.add_argument("--resource", choices=[*RESOURCES, "all"], default="all")
    parser.add_argument("--dev", action="store_true", help="use the local stack's endpoints")
    args = parser.parse_args(argv)
    if args.dev:
        _load_dev_env(Path(os.environ.get("ORDERHUB_DEV_DIR", ".dev")))

    import requests
    from tqdm import tqdm

    admin_settings = ShopifyAdminSettings.from_env()
    project = project_id(os.environ)
    session = requests.Session()
    admin = ShopifyAdmin(
        base_url=admin_settings.url,
        access_token=admin_settings.token,
        api_version=admin_settings.api_version,
        session=session,
        timeout=60.0,
    )
    topic = os.environ.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC)
    bus = PubSubBus(gcp.publisher(), gcp.topic_path(project, topic))

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
        )
        bar.close()
        print(json.dumps({"shop": admin_settings.shop, **asdict(summary)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
