"""``scripts/sync_settings`` and ``scripts/resync``: the sync's operator tools.

Against the local stack with ``--dev`` (``.dev/endpoints.env``); otherwise the project in
``GOOGLE_CLOUD_PROJECT`` (and ``BIGQUERY_DATASET``, ``ORDER_EVENTS_TOPIC`` for resync).

    scripts/sync_settings [--dev] [--shop S] show
    scripts/sync_settings [--dev] [--shop S] set outbound.orders=off sources.email:*=on ...
    scripts/resync [--dev] [--shop S] (--record ORDER_ID | --source SOURCE | --failed)
    scripts/resync [--dev] [--shop S] --all orders|customers|products [--restart]
    scripts/resync [--dev] [--shop S] --inbound [--entity orders] [--inbound-record ID]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from orderhub import gcp
from orderhub.bus import PubSubBus
from orderhub.config import (
    DEFAULT_ORDER_EVENTS_TOPIC,
    app_database,
    bigquery_endpoint,
    load_dev_env,
    project_id,
)
from orderhub.errors import ConfigError
from orderhub.inbound import SWITCH_OF_ENTITY, HeldSelection, bring_in, held_events, switch_of
from orderhub.shopify.settings import own_app_ids
from orderhub.shopify_sync.resync import (
    ALL_KINDS,
    FirestoreCursor,
    Selection,
    every_record,
    pending,
    resend,
    send_all,
)
from orderhub.switches import INBOUND_ENTITIES, FirestoreSwitches


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dev", action="store_true", help="the local stack (.dev/endpoints.env)")
    parser.add_argument("--shop", help="shop domain (default: SHOPIFY_SHOP_DOMAIN)")


def _shop(args: argparse.Namespace) -> str:
    shop = (args.shop or os.environ.get("SHOPIFY_SHOP_DOMAIN", "")).strip().lower()
    if not shop:
        raise SystemExit("name the shop: --shop xxx.myshopify.com (or set SHOPIFY_SHOP_DOMAIN)")
    return shop


def settings_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/sync_settings", description=__doc__)
    _common(parser)
    parser.add_argument("command", choices=("show", "set"))
    parser.add_argument("assignments", nargs="*", help="path=value, e.g. sources.email:*=off")
    args = parser.parse_args(argv)
    if args.dev:
        load_dev_env()
    shop = _shop(args)
    project = project_id(os.environ)
    store = FirestoreSwitches(  # in the CRM app's database (APP_DATABASE), where it sets them
        gcp.firestore_client(project, app_database(os.environ)),
        f"{os.environ.get('FIRESTORE_PREFIX', '')}sync_settings",
    )
    switches = store.get(shop)
    if args.command == "set":
        pairs = {}
        for item in args.assignments:
            path, sep, value = item.partition("=")
            if not sep:
                parser.error(f"{item!r}: write path=value")
            pairs[path.strip()] = value.strip()
        try:
            switches = switches.changed(pairs)
        except ValueError as exc:
            parser.error(str(exc))
        store.put(shop, switches)
        print(
            f"saved the sync settings of {shop}; shopify_sync uses them from its next event,"
            " the webhook and reconciliation within SYNC_SETTINGS_CACHE_SECONDS (30 s)"
        )
    print(json.dumps({"shop": shop, **switches.to_document()}, indent=2, sort_keys=True))
    return 0


def resync_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/resync", description=__doc__)
    _common(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--record", help="one CRM order id")
    which.add_argument("--source", help="every order of a source not yet in Shopify")
    which.add_argument("--failed", action="store_true", help="every failed order")
    which.add_argument(
        "--all",
        choices=tuple(ALL_KINDS),
        help="send every CRM record of this kind that Shopify lacks (the complete first"
        " sync): paced by the cost bucket, resumable, a second run sends nothing",
    )
    parser.add_argument(
        "--restart", action="store_true", help="with --all: start again from the first record"
    )
    which.add_argument(
        "--inbound",
        action="store_true",
        help="Shopify -> CRM: bring in what was held while an inbound switch was off",
    )
    parser.add_argument(
        "--entity",
        choices=INBOUND_ENTITIES,
        action="append",
        help="with --inbound: only these (default: every entity switched on)",
    )
    parser.add_argument("--inbound-record", default="", help="with --inbound: one Shopify id")
    parser.add_argument("--dry-run", action="store_true", help="list, do not send")
    args = parser.parse_args(argv)
    if args.dev:
        load_dev_env()
    shop = _shop(args)
    env = os.environ
    project = project_id(env)
    dataset = env.get("BIGQUERY_DATASET", "crm")
    client = gcp.bigquery_client(project, bigquery_endpoint(env))
    if args.inbound:
        return _resync_inbound(args, shop, project, dataset, client)
    if args.all:
        return _resync_all(args.all, shop, project, dataset, client, restart=args.restart)
    selection = Selection(
        shop=shop,
        record_id=args.record or "",
        source=args.source or "",
        failed_only=bool(args.failed),
    )
    rows = pending(client, dataset, selection)
    for row in rows:
        print(f"  {row['source']:>16}  {row['order_id']:<20} {row['status']:<8} {row['reason']}")
    if args.dry_run:
        print(f"{len(rows)} order(s) would be sent again")
        return 0
    topic = gcp.topic_path(project, env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC))
    sent = resend(rows, PubSubBus(gcp.publisher(), topic))
    print(f"{len(sent)} order(s) sent again to shopify_sync")
    return 0


def _resync_all(
    kind: str, shop: str, project: str, dataset: str, client: object, *, restart: bool
) -> int:
    """``scripts/resync --all KIND``: every record through the sync, with a progress bar and
    a summary (JSON) at the end."""
    from tqdm import tqdm

    from orderhub.shopify_sync import wiring
    from orderhub.shopify_sync.sync import handle

    deps = wiring.deps()
    prefix = os.environ.get("FIRESTORE_PREFIX", "")
    cursor = FirestoreCursor(gcp.firestore_client(project), f"{prefix}resync_cursors", shop, kind)
    if restart:
        cursor.clear()
    rows = every_record(client, dataset, kind)
    bar: Any = tqdm(desc=f"{kind} -> {shop}", unit=" records", file=sys.stderr)
    try:
        summary = send_all(
            rows,
            kind=kind,
            shop=shop,
            handle=lambda event: handle(event, deps),
            shop_of=deps.shop_of,
            cursor=cursor,
            progress=bar.update,
        )
    finally:
        bar.close()
    print(json.dumps(summary.as_json(), sort_keys=True))
    print(
        f"{summary.sent} sent, {summary.unchanged} already in Shopify or nothing to send,"
        f" {summary.failed} refused (see sync_status), {summary.waiting} to retry"
    )
    return 1 if summary.failed or summary.waiting else 0


def _resync_inbound(
    args: argparse.Namespace, shop: str, project: str, dataset: str, client: object
) -> int:
    """``scripts/resync --inbound``: the held Shopify facts of a shop, brought into the CRM
    if their switch is on again (those still off are listed and left held)."""
    env = os.environ
    switches = FirestoreSwitches(
        gcp.firestore_client(project, app_database(env)),
        f"{env.get('FIRESTORE_PREFIX', '')}sync_settings",
    ).get(shop)
    selection = HeldSelection(
        shop=shop,
        entities=tuple(args.entity or INBOUND_ENTITIES),
        record_id=args.inbound_record,
    )
    try:
        app_ids = own_app_ids(env)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from exc
    events = held_events(client, dataset, selection, app_ids)
    for event in events:
        on = switch_of(event) is None or switches.inbound_on(SWITCH_OF_ENTITY[event["entity_type"]])
        print(
            f"  {event['event_type']:>18}  {event['entity_id']:<20} v{event['version']}"
            f"  {'' if on else '(switch still off: stays held)'}"
        )
    if args.dry_run:
        print(f"{len(events)} held event(s); none sent (--dry-run)")
        return 0
    topic = gcp.topic_path(project, env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC))
    sent, still_off = bring_in(
        events,
        switches=switches,
        bus=PubSubBus(gcp.publisher(), topic),
        now=lambda: datetime.now(UTC),
    )
    print(f"{len(sent)} held event(s) sent into the CRM; {len(still_off)} still switched off")
    return 0


if __name__ == "__main__":
    tool = sys.argv[1] if len(sys.argv) > 1 else ""
    runner = {"settings": settings_main, "resync": resync_main}.get(tool)
    if runner is None:
        raise SystemExit("usage: python -m orderhub.shopify_sync.cli settings|resync ...")
    sys.exit(runner(sys.argv[2:]))
