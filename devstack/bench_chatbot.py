"""The chat-bot's figures for ``scripts/bench`` (``--only chatbot``), or on their own:
``python -m devstack.bench_chatbot`` against the running dev stack.

* **catalogue latency**: Dynamic Block requests (``POST /catalogue``: no search, a search
  word, a collection, a later page, each with a contact id) from a few concurrent
  clients against one instance of ``chatbot`` whose products come from the stack's
  ``products`` view (seeded with ``PRODUCTS`` products through the stack's own webhook),
  p50 / p95 / p99 of the whole HTTP exchange. Target (issue 14): p95 < 300 ms. The cache
  is refreshed every ``CHATBOT_CACHE_SECONDS`` (60 s by default), so a run of a few
  seconds mostly measures the cached path; the first request's time (the load from
  BigQuery) is reported beside it.
* **contact throughput**: ``POST /contacts`` with the Full Contact Data fixture at a
  fixed concurrency (wrk), each a real publish to a topic without subscribers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from devstack import shopify_sender
from devstack.bench import WRK_SCRIPT, Instance, Load, lua_string, run_wrk
from devstack.stack import ROOT, Stack, read_env_file

CHATBOT_OFFSET = 63
PRODUCTS = 60
FIXTURE = ROOT / "tests" / "fixtures" / "manychat" / "full_contact_data.json"
ASKS: tuple[dict[str, Any], ...] = (
    {},
    {"q": "bench"},
    {"collection": "Bench kettles"},
    {"page": 2},
    {"q": "zzz-nothing"},
)


def seed_products(values: dict[str, str], n: int = PRODUCTS) -> None:
    """``n`` products in the stack's ``products`` view, sent as Shopify webhooks."""
    from devstack import dataset

    base = shopify_sender.fixture("product")
    session = requests.Session()
    for i in range(n):
        payload = {
            **base,
            "id": 7_700_000 + i,
            "title": f"Bench product {i:03d}",
            "handle": f"bench-{i}",
            "product_type": "Bench kettles" if i % 2 else "Bench teapots",
            "variants": [
                {**v, "id": 7_800_000 + i * 10 + j, "inventory_quantity": (i + j) % 4}
                for j, v in enumerate(base["variants"])
            ],
        }
        shopify_sender.send(
            values["SHOPIFY_WEBHOOK_URL"],
            shop=values["SHOPIFY_SHOP_DOMAIN"],
            secret=values["SHOPIFY_API_SECRET"],
            topic="products/create",
            payload=payload,
            session=session,
        ).raise_for_status()
    client = dataset.bigquery_client(
        values["GOOGLE_CLOUD_PROJECT"], values["BIGQUERY_EMULATOR_HOST"]
    )
    view = f"{values['GOOGLE_CLOUD_PROJECT']}.{values['BIGQUERY_DATASET']}.products"
    sql = f"SELECT COUNT(DISTINCT product_id) AS n FROM `{view}` WHERE title LIKE 'Bench %'"  # noqa: S608
    deadline = time.monotonic() + 60
    while next(iter(client.query(sql).result()))["n"] < n:
        if time.monotonic() > deadline:
            raise SystemExit("bench: the seeded products did not reach the products view")
        time.sleep(0.25)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def catalogue_latencies(
    url: str, headers: dict[str, str], *, requests_n: int, clients: int
) -> list[float]:
    """Seconds per catalogue request, ``requests_n`` in all from ``clients`` threads."""
    timings: list[float] = []
    lock = threading.Lock()
    per_client = max(1, requests_n // clients)

    def client(k: int) -> None:
        session = requests.Session()
        mine = []
        for i in range(per_client):
            ask = {**ASKS[(k + i) % len(ASKS)], "contact_id": str(1000 + k)}
            started = time.perf_counter()
            response = session.post(url, json=ask, headers=headers, timeout=10)
            mine.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"bench: catalogue answered {response.status_code}")
        with lock:
            timings.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def static_script(body: bytes, headers: dict[str, str]) -> str:
    """A wrk script that POSTs the same body each time (a contact posted again is the same
    contact: the endpoint's repeat path, as ManyChat's retries and re-entries are)."""
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body.decode())}"]
    lines += [f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items()]
    report = WRK_SCRIPT[WRK_SCRIPT.index("function done(") :]  # the BENCH line run_wrk reads
    return "\n".join(lines) + "\n" + report


def measure(
    values: dict[str, str],
    base: int,
    logs: Path,
    *,
    seconds: float = 5,
    warmup: float = 5,
    concurrency: int = 16,
    wrk_threads: int = 2,
    requests_n: int = 400,
    clients: int = 4,
    sink_topic: str = "bench-sink",
) -> dict[str, Any]:
    """Start a chatbot instance on the stack's emulators and measure it."""
    import os

    seed_products(values)
    header = values["CHATBOT_SECRET_HEADER"]
    headers = {header: values["CHATBOT_SECRET"]}
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        **values,
        "ORDER_EVENTS_TOPIC": sink_topic,
        "CHATBOT_CACHE_SECONDS": "60",
        "PYTHONPATH": str(ROOT / "functions"),
    }
    first: dict[str, float] = {}

    def probe(url: str) -> bool:
        try:
            started = time.perf_counter()
            ok = requests.post(url + "catalogue", json={}, headers=headers, timeout=30)
            first.setdefault("s", time.perf_counter() - started)
            return ok.status_code == 200
        except requests.ConnectionError:
            return False

    instance = Instance(
        "chatbot", ROOT / "functions" / "main.py", "chatbot", base + CHATBOT_OFFSET, env, probe
    )
    results: dict[str, Any] = {}
    with instance.running(logs / "chatbot.log") as (_cold, pid):
        results["catalogue_first_s"] = first.get("s")
        catalogue_latencies(
            instance.url + "catalogue",
            headers,
            requests_n=max(40, requests_n // 5),
            clients=clients,
        )  # warm-up, discarded
        timings = catalogue_latencies(
            instance.url + "catalogue", headers, requests_n=requests_n, clients=clients
        )
        results["catalogue"] = {
            "n": len(timings),
            "clients": clients,
            "p50_ms": percentile(timings, 50) * 1000,
            "p95_ms": percentile(timings, 95) * 1000,
            "p99_ms": percentile(timings, 99) * 1000,
            "mean_ms": statistics.fmean(timings) * 1000,
        }
        if shutil.which("wrk") is None:
            results["contacts"] = None
        else:
            body = FIXTURE.read_bytes()
            with tempfile.TemporaryDirectory() as tmp:
                script = Path(tmp) / "contacts.lua"
                script.write_text(
                    static_script(body, {"Content-Type": "application/json", **headers})
                )
                url = instance.url + "contacts"
                run_wrk(url, script, concurrency=concurrency, seconds=warmup, threads=wrk_threads)
                load: Load = run_wrk(
                    url,
                    script,
                    concurrency=concurrency,
                    seconds=seconds,
                    threads=wrk_threads,
                    watch={"function": pid},
                )
            results["contacts"] = {
                "rps": load.rps,
                "p50_ms": load.p50_ms,
                "p99_ms": load.p99_ms,
                "non_2xx": load.non_2xx,
                "socket_errors": load.socket_errors,
                "concurrency": concurrency,
                "cpu_ms": load.cpu_ms.get("function"),
            }
    return results


def report_rows(r: dict[str, Any]) -> list[str]:
    """Rows for scripts/bench's Markdown table."""
    rows = []
    c = r["catalogue"]
    rows.append(
        f"| chat-bot catalogue, Dynamic Block cards, p50 / p95 / p99 ({c['n']} requests, "
        f"{c['clients']} clients, {PRODUCTS} products) | {c['p50_ms']:.1f} / {c['p95_ms']:.1f} "
        f"/ {c['p99_ms']:.1f} ms | — | | p95 < 300 ms | {'yes' if c['p95_ms'] < 300 else 'NO'} |"
    )
    if r.get("catalogue_first_s") is not None:
        rows.append(
            f"| chat-bot catalogue, first request (products loaded from BigQuery) "
            f"| {r['catalogue_first_s'] * 1000:.0f} ms | — | | | |"
        )
    k = r.get("contacts")
    if k is None:
        rows.append("| chat-bot contacts throughput | n/a (wrk not installed) | | | | |")
    else:
        rows.append(
            f"| chat-bot contacts, {k['concurrency']} concurrent, POST /contacts → publish "
            f"| {k['rps']:,.0f} req/s, p50 / p99 {k['p50_ms']:.1f} / {k['p99_ms']:.1f} ms, "
            f"CPU {k['cpu_ms']:.2f} ms/req | — | | 0 failed | "
            f"{'yes' if not (k['non_2xx'] or k['socket_errors']) else 'NO'} |"
        )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.bench_chatbot", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    stack = Stack.from_env()
    values = read_env_file(stack.endpoints_file)
    if not values:
        raise SystemExit("bench: no dev stack running (scripts/dev up)")
    import os

    os.environ["PUBSUB_EMULATOR_HOST"] = values["PUBSUB_EMULATOR_HOST"]
    from google.api_core import exceptions
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    try:
        publisher.create_topic(
            name=publisher.topic_path(values["GOOGLE_CLOUD_PROJECT"], "bench-sink")
        )
    except exceptions.AlreadyExists:
        pass
    results = measure(
        values,
        stack.base,
        ROOT / ".dev" / "bench-logs",
        seconds=args.seconds,
        requests_n=args.requests,
        concurrency=args.concurrency,
    )
    print("| figure | OrderHub | baseline | ratio | target | met |\n|---|---|---|---|---|---|")
    print("\n".join(report_rows(results)))
    print(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
