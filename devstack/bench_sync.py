"""Backlog drain of ``shopify_sync`` against the Shopify cost bucket's allowance.

A backlog of N CRM orders (as after switching e-mail orders on) goes through the real
sync core and the real Admin API client, over HTTP, to the Shopify stand-in, whose bucket
restores ``--restore`` points a second (Shopify's standard plan: 100). Links and the
status log are kept in memory (the bench measures the Shopify leg, not Firestore). It
prints the orders written a second, the points Shopify charged a second beside the
bucket's restore rate, the allowance in orders a second (restore rate / points per
order), and the answers Shopify refused (THROTTLED): a paced client drains at the
allowance with next to no refusals.

Run: ``scripts/bench_sync [--orders 300] [--restore 100] [--bucket 200]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from devstack.standins.shopify_admin import ShopifyAdminStandIn
from orderhub.ledger import FINAL_STATES, Begin
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.writer import PacedThrottle, ShopifyWriter
from orderhub.shopify_sync import sync
from orderhub.shopify_sync.links import NoRate
from orderhub.sources import manual
from orderhub.switches import Switches

SHOP = "bench.myshopify.com"
TOKEN = "shpat_bench"  # noqa: S105 (the stand-in's, not a secret)


class MemoryLinks:
    """``orderhub.ledger.Ledger`` in a dict, for one process."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def begin(self, key: str, data: dict[str, Any], *, now: datetime, lease: timedelta) -> Begin:
        record = self.records.get(key)
        if record is None:
            self.records[key] = {**data, "state": "sending", "attempt": 1, "started_at": now}
            return Begin("new", 1, self.records[key])
        if record["state"] in FINAL_STATES:
            return Begin("done", record["attempt"], record)
        record.update(state="sending", attempt=record["attempt"] + 1, started_at=now)
        return Begin("retake", record["attempt"], record)

    def finish(self, key: str, state: str, fields: dict[str, Any], *, now: datetime) -> None:
        self.records[key].update(fields, state=state)

    def mark_logged(self, key: str) -> None:
        return

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)


class Counting:
    """Counts the answers that were THROTTLED, around the real transport."""

    def __init__(self, post: Any) -> None:
        self.post, self.throttled, self.charged = post, 0, 0.0

    def __call__(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = self.post(query, variables)
        if any(
            (e.get("extensions") or {}).get("code") == "THROTTLED" for e in body.get("errors") or []
        ):
            self.throttled += 1
        else:
            self.charged += float(
                ((body.get("extensions") or {}).get("cost") or {}).get("actualQueryCost") or 0
            )
        return body


def backlog(n: int) -> list[Any]:
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    events = []
    for i in range(n):
        order = manual.ManualOrder(
            lines=(manual.Line("Ceramic mug", 1, Decimal("12.00"), sku="MUG-1"),),
            currency="EUR",
            customer_name=f"Bench Customer {i}",
            phone=None,
            email=f"bench{i}@example.com",
            address="Rua Augusta 10",
            delivery_method="courier",
            note=None,
            channel="phone",
        )
        event = manual.order_event(
            order, manager="bench", form_token=f"bench-token-{i:08d}", shop=SHOP, at=at
        )
        events.append({**event, "source": "email:bench"})
    return events


def run(orders: int, restore: float, bucket: float) -> dict[str, float]:
    standin = ShopifyAdminStandIn(token=TOKEN, shop=SHOP).start()
    try:
        standin.shop.bucket_size = standin.shop.available = bucket
        standin.shop.restore_rate = restore
        standin.shop.put_product(
            {
                "id": 1,
                "title": "Mug",
                "updated_at": "2026-11-01T00:00:00Z",
                "variants": [
                    {"id": 2, "sku": "MUG-1", "price": "12.00", "inventory_quantity": 100000}
                ],
            }
        )
        admin = ShopifyAdmin(base_url=standin.url, access_token=TOKEN, session=requests.Session())
        counting = Counting(admin.response)
        writer = ShopifyWriter(counting, PacedThrottle(sleep=time.sleep))
        switches = Switches().changed({"outbound.orders": "on", "outbound.customers": "on"})
        log: list[dict[str, Any]] = []

        class Log:
            def record(self, row: dict[str, Any]) -> None:
                log.append(row)

        class NoAlerts:
            def publish(self, event: Any) -> str:
                raise AssertionError(f"unexpected alert: {event['entity']}")

        deps = sync.Deps(
            writer=lambda shop: writer,
            links=MemoryLinks(),
            switches=lambda shop: switches,
            rate=NoRate(),
            log=Log(),
            alerts=NoAlerts(),
            now=lambda: datetime.now(UTC),
            sleep=time.sleep,
        )
        events = backlog(orders)
        started = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):  # one log line per outcome
            for event in events:
                sync.handle(event, deps)
        elapsed = time.monotonic() - started
        created = standin.writes.counts.get("orderCreate", 0)
        points_per_order = counting.charged / max(created, 1)
        return {
            "orders": created,
            "seconds": elapsed,
            "orders_per_s": created / elapsed,
            "points_per_s": counting.charged / elapsed,
            "points_per_order": points_per_order,
            "allowance_orders_per_s": restore / points_per_order,
            "burst_orders": bucket / points_per_order,
            "throttled_answers": counting.throttled,
            "calls": len(writer.calls),
            "waited_s": writer.throttle.waited,
        }
    finally:
        standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument(
        "--restore", type=float, default=100.0, help="bucket points restored a second"
    )
    parser.add_argument("--bucket", type=float, default=200.0, help="bucket size in points")
    args = parser.parse_args()
    r = run(args.orders, args.restore, args.bucket)
    print(f"backlog of {r['orders']:.0f} orders drained in {r['seconds']:.1f} s")
    print(f"  drain rate        {r['orders_per_s']:.2f} orders/s")
    print(
        f"  bucket allowance  {r['allowance_orders_per_s']:.2f} orders/s"
        f" ({args.restore:g} points/s ÷ {r['points_per_order']:.1f} points per order;"
        f" plus a first burst of ~{r['burst_orders']:.0f} orders from the full bucket)"
    )
    ratio = r["orders_per_s"] / r["allowance_orders_per_s"]
    print(f"  ratio             {ratio:.2f} of the allowance")
    print(f"  points charged    {r['points_per_s']:.1f}/s against {args.restore:g}/s restored")
    print(
        f"  refused (THROTTLED) {r['throttled_answers']:.0f} of {r['calls']:.0f} calls;"
        f" paced waits {r['waited_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
