"""``scripts/cost``: OrderHub's monthly Google Cloud bill at 1,000, 10,000 and 100,000 orders.

List prices (USD, tier-1 regions, read from Google's pricing pages; change PRICES when they
change) times the operations the code causes per order (PER_ORDER, read from the code paths:
docs/cost.md says where each count comes from). Free tiers are subtracted. Fixed costs
(the warm webhook instance, scheduler jobs, secrets, the owners' and managers' pages) are
added once. Prints one table per volume and the biggest line.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

MONTH_S = 30 * 86_400
GIB = 1024**3

PRICES = {
    "run_request": 0.40 / 1e6,  # Cloud Run functions (2nd gen), per request; 2M free
    "run_vcpu_s": 0.000024,  # per vCPU-second while serving; 180,000 free
    "run_gib_s": 0.0000025,  # per GiB-second while serving; 360,000 free
    "run_idle_vcpu_s": 0.0000025,  # min instance, idle vCPU-second
    "run_idle_gib_s": 0.0000025,  # min instance, idle GiB-second
    "pubsub_tib": 40.0,  # throughput per TiB (publish + each delivery, >= 1 KB each); 10 GiB free
    "bq_storage_gib": 0.02,  # active logical storage per GiB-month; 10 GiB free
    "bq_stream_gib": 0.05,  # legacy streaming inserts ($0.01 per 200 MB), >= 1 KB per row
    "bq_query_tib": 6.25,  # on-demand, >= 10 MB per table referenced; 1 TiB free
    "fs_read": 0.06 / 1e5,  # Firestore reads; 50,000 a day free
    "fs_write": 0.18 / 1e5,  # Firestore writes; 20,000 a day free
    "fs_delete": 0.02 / 1e5,  # deletes (TTL included); 20,000 a day free
    "scheduler_job": 0.10,  # per job a month; 3 free per billing account
    "secret_version": 0.06,  # per active secret version a month; 6 free
    "secret_access": 0.03 / 1e4,  # per 10,000 accesses; 10,000 free
    "logging_gib": 0.50,  # log ingestion per GiB; 50 GiB free per project
}


@dataclass(frozen=True)
class PerOrder:
    """What one order costs in operations (a Shopify order; e-mail and form orders cost less)."""

    webhooks: float = 3.0  # orders/create, orders/updated (paid), orders/updated (fulfilled)
    webhook_cpu_s: float = 0.010  # measured p50 service time ~10 ms of 1 vCPU (performance.md)
    consumers: int = 3  # order-events subscribers: crm_writer, notifier, shopify_sync
    consumer_cpu_s: float = 0.05  # per delivery, 0.25-1 vCPU for ~50-200 ms (clients' RPCs)
    event_kib: float = 6.0  # one canonical event carrying the raw body (orders are KBs)
    bq_rows: float = 6.0  # order_events + raw_events per webhook
    bq_row_kib: float = 4.0
    fs_writes: float = 3 * 1 + 3 * 1 + 2  # webhook claim, consumers' claims, notifier ledger
    fs_reads: float = 3 * 1 + 2  # claim checks, sync mapping look-ups
    fs_deletes: float = 8  # the claims' TTL expiries
    log_kib: float = 3 * 0.5 + 9 * 0.4  # one JSON line per request and consumer run


FIXED = {
    "webhook_min_instance": 1,  # min_instance_count = 1, 1 vCPU, 512 MiB
    "scheduler_jobs": 5,  # gmail-watch-renew, gmail-catch-up, shopify-reconcile, privacy-erase, +1
    "secrets": 10,
    "reconcile_runs": 24 * 30,  # hourly, one per shop
    "catch_up_runs": 4 * 24 * 30,  # every 15 minutes
    "crm_pages_per_day": 300,  # managers' page loads (each a BigQuery job of a few tables)
    "tables_per_page": 3,  # each billed at least 10 MB
    "analyst_queries_per_day": 20,  # the views in Looker Studio etc.
    "analyst_tables": 4,
}


def bill(orders: int, p: PerOrder = PerOrder()) -> dict[str, float]:
    r = PRICES
    requests = orders * (p.webhooks + p.webhooks * p.consumers)
    requests += FIXED["reconcile_runs"] + FIXED["catch_up_runs"] * 2  # catch-up: push + ingest
    vcpu_s = orders * p.webhooks * (p.webhook_cpu_s + p.consumers * p.consumer_cpu_s)
    gib_s = vcpu_s * 0.5
    run = max(0.0, requests - 2e6) * r["run_request"]
    run += max(0.0, vcpu_s - 180_000) * r["run_vcpu_s"] + max(0.0, gib_s - 360_000) * r["run_gib_s"]
    warm = (
        FIXED["webhook_min_instance"] * MONTH_S * (r["run_idle_vcpu_s"] + 0.5 * r["run_idle_gib_s"])
    )

    publishes = orders * p.webhooks
    pubsub_bytes = publishes * max(1.0, p.event_kib) * 1024 * (1 + p.consumers)
    pubsub = max(0.0, pubsub_bytes - 10 * GIB) / (1024 * GIB) * r["pubsub_tib"]

    rows = orders * p.webhooks * p.bq_rows
    stream = rows * max(1.0, p.bq_row_kib) * 1024 / GIB * r["bq_stream_gib"]
    stored_gib = rows * p.bq_row_kib * 1024 * 12 / GIB  # a year kept
    storage = max(0.0, stored_gib - 10) * r["bq_storage_gib"]
    # Pages and views: on-demand minimum of 10 MB per table, more once the tables outgrow it.
    # A page reads a few columns (~10 %) of a table holding a year of one kind of row.
    table_mb = max(10.0, orders * p.webhooks * p.bq_row_kib * 12 / 1024 * 0.1)
    scanned_tib = (
        30
        * (
            FIXED["crm_pages_per_day"] * FIXED["tables_per_page"]
            + FIXED["analyst_queries_per_day"] * FIXED["analyst_tables"]
        )
        * table_mb
        / 1024**2
    )
    query = max(0.0, scanned_tib - 1) * r["bq_query_tib"]

    free_days = 30
    fs = max(0.0, orders * p.fs_reads - 50_000 * free_days) * r["fs_read"]
    fs += max(0.0, orders * p.fs_writes - 20_000 * free_days) * r["fs_write"]
    fs += max(0.0, orders * p.fs_deletes - 20_000 * free_days) * r["fs_delete"]

    sched = max(0, FIXED["scheduler_jobs"] - 3) * r["scheduler_job"]
    secrets = max(0, FIXED["secrets"] - 6) * r["secret_version"]
    logging = max(0.0, orders * p.log_kib * 1024 / GIB - 50) * r["logging_gib"]
    return {
        "Cloud Run: warm webhook instance (min 1)": warm,
        "Cloud Run: requests and CPU": run,
        "Pub/Sub throughput": pubsub,
        "BigQuery streaming inserts": stream,
        "BigQuery storage": storage,
        "BigQuery queries (pages, views)": query,
        "Firestore": fs,
        "Cloud Scheduler": sched,
        "Secret Manager": secrets,
        "Cloud Logging": logging,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cost", description=__doc__)
    parser.add_argument("volumes", nargs="*", type=int, default=[1_000, 10_000, 100_000])
    args = parser.parse_args(argv)
    for orders in args.volumes:
        lines = bill(orders)
        total = sum(lines.values())
        print(f"\n{orders:,} orders a month: ${total:,.2f}")
        for name, usd in sorted(lines.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<42} ${usd:>9,.2f}")
        biggest = max(lines, key=lambda k: lines[k])
        print(f"  biggest: {biggest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
