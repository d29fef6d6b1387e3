"""Figures for docs/notifier.md, on a running stack (scripts/dev up).

* latency: signed Shopify orders/create → a message for every manager at the stand-in;
* rate: N sendContent calls through ManyChatClient with the 25/s token bucket.

Run: .venv/bin/python scripts/bench_notifier.py   (PYTHONPATH=functions:. as scripts/dev sets)
"""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path

import requests

from devstack.shopify_sender import fixture, send
from devstack.stack import Stack, read_env_file
from orderhub.managers import parse
from orderhub.sinks.manychat import ManyChatClient, TokenBucket

ORDERS = 20
SENDS = 100


def main() -> None:
    values = read_env_file(Stack.from_env().endpoints_file)
    standin = values["MANYCHAT_API_URL"]
    managers = [m.subscriber_id for m in parse(values["NOTIFY_MANAGERS"], where="env")]
    latencies = []
    for _ in range(ORDERS):
        order = {**fixture("order"), "id": uuid.uuid4().int % 10**13}
        before = {
            m: len(
                requests.get(f"{standin}/_stand_in/received?subscriber_id={m}", timeout=5).json()
            )
            for m in managers
        }
        start = time.monotonic()
        send(
            values["SHOPIFY_WEBHOOK_URL"],
            shop=values["SHOPIFY_SHOP_DOMAIN"],
            secret=values["SHOPIFY_API_SECRET"],
            topic="orders/create",
            payload=order,
        )
        while any(
            len(requests.get(f"{standin}/_stand_in/received?subscriber_id={m}", timeout=5).json())
            <= before[m]
            for m in managers
        ):
            time.sleep(0.01)
        latencies.append(time.monotonic() - start)
    latencies.sort()
    print(
        f"webhook → {len(managers)} messages: median {statistics.median(latencies) * 1000:.0f} ms,"
        f" max {latencies[-1] * 1000:.0f} ms over {ORDERS} orders"
    )
    client = ManyChatClient(base_url=standin, token=values["MANYCHAT_TOKEN"], bucket=TokenBucket())
    messages = [{"type": "text", "text": "bench"}]
    start = time.monotonic()
    for _ in range(SENDS):
        assert client.send_content("999999", messages, None).sent
    took = time.monotonic() - start
    print(f"{SENDS} sendContent calls took {took:.2f} s: {SENDS / took:.1f}/s (limit 25/s)")


if __name__ == "__main__":
    if not Path(".dev/endpoints.env").exists():
        raise SystemExit("start the stack first: scripts/dev up")
    main()
