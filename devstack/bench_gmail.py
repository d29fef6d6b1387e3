"""Gmail catch-up benchmark (issue 13): a mailbox receives order mail and other mail while
ingestion is down for longer than Gmail keeps history; then one notification comes. How
long until every order is in the ``orders`` view, each once?

On a running stack (its Gmail stand-in, ``gmail_ingest`` behind the ``gmail-push`` push
subscription, crm_writer, BigQuery emulator):

1. A fresh mailbox is synced once while empty (its checkpoint and "last good sync" set).
2. ``orders`` order mails (the Kiire sample, each with its own order number) and
   ``others`` newsletters are delivered, interleaved; then the stand-in forgets its
   history, so the next ``history.list`` answers 404, as after a week of downtime.
3. One notification is published to ``gmail-push``; the clock runs until the ``orders``
   view holds every order of the mailbox. ``gmail_ingest`` works through the full sync
   in bounded runs, each asking for the next with a follow-up notification.

``catch_up`` returns the figures; ``rows`` renders them for ``scripts/bench``. Run alone:
``scripts/bench --only gmail`` (or ``python -m devstack.bench_gmail`` on a running dev
stack).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

from devstack.stack import ROOT, Stack, read_env_file
from devstack.standins import gmail as standin

SAMPLE_ORDER = ROOT / "tests" / "fixtures" / "email" / "kiire_plain_text.eml"
SAMPLE_OTHER = ROOT / "tests" / "fixtures" / "email" / "unrelated_newsletter.eml"


def order_mail(template: bytes, number: int) -> bytes:
    return template.replace(b"K-3F8LX", f"K-B{number:05d}".encode())


def other_mail(template: bytes, number: int) -> bytes:
    return template.replace(b"Subject: ", f"Subject: [{number}] ".encode(), 1)


def _notify(values: dict[str, str], mailbox: str, history_id: int | None) -> None:
    os.environ["PUBSUB_EMULATOR_HOST"] = values["PUBSUB_EMULATOR_HOST"]
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(values["GOOGLE_CLOUD_PROJECT"], values["GMAIL_PUSH_TOPIC"])
    data: dict[str, Any] = {"emailAddress": mailbox}
    if history_id is not None:
        data["historyId"] = history_id
    publisher.publish(topic, json.dumps(data).encode()).result(timeout=10)


def _bigquery(values: dict[str, str]) -> Any:
    from devstack import dataset

    return dataset.bigquery_client(values["GOOGLE_CLOUD_PROJECT"], values["BIGQUERY_EMULATOR_HOST"])


def _count(client: Any, values: dict[str, str], sql: str, mailbox: str) -> int:
    from google.cloud import bigquery

    table = f"`{values['GOOGLE_CLOUD_PROJECT']}.{values['BIGQUERY_DATASET']}"
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("shop", "STRING", mailbox)]
    )
    rows = list(client.query(sql.replace("`ds", table), job_config=config).result())
    return int(rows[0][0])


def _wait(client: Any, values: dict[str, str], mailbox: str, count: int, timeout: float) -> int:
    """Poll the ``orders`` view until it holds ``count`` orders of the mailbox."""
    deadline = time.monotonic() + timeout
    while True:
        seen = _count(
            client, values, "SELECT COUNT(*) FROM `ds.orders` WHERE shop = @shop", mailbox
        )
        if seen >= count or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def catch_up(
    values: dict[str, str], orders: int = 500, others: int = 2000, timeout: float = 900.0
) -> dict[str, Any]:
    """Deliver, forget history, notify once; time until every order is in ``orders``."""
    api = values["GMAIL_API_URL"]
    mailbox = f"bench-{uuid.uuid4().hex[:8]}@shop.example"
    client = _bigquery(values)
    order_template, other_template = SAMPLE_ORDER.read_bytes(), SAMPLE_OTHER.read_bytes()
    # the mailbox's first sync, over one order: its baseline, done once that order is in
    # the CRM
    first = standin.deliver(api, mailbox, order_mail(order_template, orders))
    _notify(values, mailbox, int(first["historyId"]))
    if _wait(client, values, mailbox, 1, 120.0) < 1:
        raise RuntimeError("bench_gmail: the baseline sync never finished")

    ratio = max(1, others // max(1, orders))
    started_delivery = time.monotonic()
    n_other = 0
    for n in range(orders):
        standin.deliver(api, mailbox, order_mail(order_template, n))
        for _ in range(ratio):
            if n_other < others:
                standin.deliver(api, mailbox, other_mail(other_template, n_other))
                n_other += 1
    while n_other < others:
        standin.deliver(api, mailbox, other_mail(other_template, n_other))
        n_other += 1
    delivery_s = time.monotonic() - started_delivery
    last = standin.forget_history(api, mailbox)  # ingestion was down too long: 404

    started = time.monotonic()
    _notify(values, mailbox, int(last["historyId"]))
    seen = _wait(client, values, mailbox, orders + 1, timeout) - 1
    elapsed = time.monotonic() - started
    events = _count(
        client,
        values,
        "SELECT COUNT(DISTINCT event_id) FROM `ds.order_events` WHERE shop = @shop",
        mailbox,
    )
    rows = _count(
        client, values, "SELECT COUNT(*) FROM `ds.order_events` WHERE shop = @shop", mailbox
    )
    return {
        "orders": orders,
        "others": others,
        "seen": seen,
        "distinct_events": events - 1,  # less the baseline's order
        "event_rows": rows - 1,
        "seconds": elapsed,
        "delivery_seconds": delivery_s,
        "complete": seen == orders and events - 1 == orders,
    }


def rows(result: dict[str, Any]) -> list[str]:
    """Rows for the table of ``scripts/bench``."""
    r = result
    mails = r["orders"] + r["others"]
    return [
        f"| Gmail catch-up after a 404: {r['orders']} order + {r['others']} other mails, "
        f"one notification → every order in `orders` | {r['seconds']:.1f} s "
        f"({mails / r['seconds']:.0f} mails/s) | — | | complete, each order once "
        f"| {'yes' if r['complete'] else 'NO'} ({r['seen']} orders, "
        f"{r['distinct_events']} distinct events, {r['event_rows']} rows) |"
    ]


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devstack.bench_gmail")
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--others", type=int, default=2000)
    args = parser.parse_args(argv)
    values = read_env_file(Stack.from_env().endpoints_file)
    if not values:
        print("bench_gmail: no dev stack running (scripts/dev up)", file=sys.stderr)
        return 1
    result = catch_up(values, args.orders, args.others)
    print("\n".join(rows(result)))
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
