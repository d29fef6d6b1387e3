"""The benchmark behind ``scripts/bench``: every figure beside a baseline from the same run.

What it measures, on one machine, in one run:

* **webhook load**: signed ``orders/create`` posts, each a different order (its own id,
  so its own body and signature: the webhook recognises a repeated body as a duplicate)
  with a fresh ``X-Shopify-Webhook-Id``, so the Firestore claim and the publish really
  happen, at a
  fixed concurrency against one functions-framework instance of ``shopify_webhook``,
  beside the bare hello-world of ``scripts/bench_hello`` under the same load. The load
  generator is ``wrk`` (C, one event loop per thread), so it takes little of the CPU
  that the function and the emulators need; a Lua script gives every request its order
  id and signs the body with OpenSSL's HMAC through LuaJIT's FFI (a few µs).
  The webhook publishes to a topic without subscribers, so crm_writer does not compete.
  Every instance is warmed up first (``--warmup``); the webhook then for as long as the
  emulators' CPU per request still falls (``--settle``): their JVMs compile while loaded,
  and on a busy machine that takes longer than 20 s.
* **cold start**: process start to the first 200, webhook (a signed post, so the first
  request pays for lazy imports and client creation) beside hello-world; median of runs.
* **import time** of the entry module plus the webhook adapter, in a fresh interpreter.
* **end to end**: the stack's own webhook accepts an order (200) → the order is visible
  in the ``orders`` view, one order at a time; the time is taken when the polling query
  that first shows the order *returns*, so it errs on the slow side.
* **group-commit batches** of the webhook under load: how many claims and publishes shared
  one round of RPCs (``BatchedPublishOnce.batch_sizes``, read from the instance through
  ``scripts/bench_hello``'s ``shopify_webhook_counted``, the real entry point plus
  ``GET ?batch_sizes``).
* **py-spy** (``--py-spy FILE``): after the measured runs, one more webhook run under
  ``py-spy record`` (collapsed stacks to FILE; the busiest frames printed). Sampling
  slows the function, so it never overlaps a measured run.
* **e-mail parsing**: ``devstack.emailbench.parse_rate()`` once that module exists.
* **Gmail catch-up** (``--only gmail``, in the default set): ``devstack.bench_gmail``, a
  mailbox given ``--gmail-orders`` order mails and ``--gmail-others`` other mails while
  ingestion was down, then one notification after Gmail's history is gone.

Every instance the bench starts runs with the gunicorn threads (``THREADS``) that
``infra/main.tf`` gives the deployed ``shopify_webhook`` (``--threads`` overrides): the
group commit's batches, and so the cost of a request, depend on how many requests one
instance holds at once, and functions-framework's default (4 per core) is not what runs.

The stack is started on ``ORDERHUB_BENCH_PORT_BASE`` (default 10000) in
``.dev/bench-stack`` and stopped afterwards (``--keep-stack`` leaves it running).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from devstack import shopify_sender
from devstack.stack import ROOT, Stack, kill_group, port_in_use, read_env_file

VENV_BIN = ROOT / ".venv" / "bin"
HELLO_SOURCE = ROOT / "scripts" / "bench_hello" / "main.py"
WEBHOOK_SOURCE = ROOT / "functions" / "main.py"
SINK_TOPIC = "bench-sink"  # no subscription: publishes are accepted and dropped

# Offsets from the bench port base for the instances the bench starts itself.
HELLO_OFFSET, WEBHOOK_OFFSET, FLOOR_OFFSET = 60, 61, 62


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    #: CPU milliseconds per successful request, by process group (and "wrk").
    cpu_ms: dict[str, float]
    #: The webhook's group-commit batches during the run: items in a batch → batches.
    batches: dict[int, int] | None = None
    #: The machine's 1-minute load average as the run started (others' work shows here).
    load_average: float = 0.0


def median_load(runs: list[Load]) -> Load:
    """The run with the median throughput (its own latencies and CPU with it)."""
    return sorted(runs, key=lambda r: r.rps)[len(runs) // 2]


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every process in a process group."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # pgrp; then utime, stime at 11, 12
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Instance:
    """How to start one functions-framework instance of a function."""

    label: str
    source: Path
    target: str
    port: int
    env: dict[str, str]
    probe: Callable[[str], bool]  # url → True once it answered 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def argv(self) -> list[str]:
        return [
            str(VENV_BIN / "functions-framework"),
            "--source",
            str(self.source),
            "--target",
            self.target,
            "--signature-type",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    @contextlib.contextmanager
    def running(self, log: Path) -> Iterator[tuple[float, int]]:
        """Start the instance; yields (seconds from process start to first 200, its pid).

        The pid leads the instance's own process group (gunicorn master and worker).
        """
        if port_in_use(self.port):
            raise SystemExit(f"bench: port {self.port} is taken; set ORDERHUB_BENCH_PORT_BASE")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(
                self.argv(),
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            deadline = started + 60
            while not self.probe(self.url):
                if proc.poll() is not None:
                    raise SystemExit(f"bench: {self.label} exited; see {log}")
                if time.perf_counter() > deadline:
                    raise SystemExit(f"bench: {self.label} gave no 200 in 60 s; see {log}")
                time.sleep(0.005)
            yield time.perf_counter() - started, proc.pid
        finally:
            kill_group(proc.pid)
            proc.wait()


# ------------------------------------------------------------------ the order
def order_payload(order_id: int) -> dict[str, Any]:
    """The fixture order under a new id (Shopify ids exceed 2^53; so do ours)."""
    order = shopify_sender.fixture("order")
    return {**order, "id": order_id, "name": f"#B{order_id % 100000}"}


def fresh_order_id() -> int:
    return 9_000_000_000_000_000 + uuid.uuid4().int % 1_000_000_000_000_000


def signed_probe(shop: str, secret: str) -> Callable[[str], bool]:
    def probe(url: str) -> bool:
        body = json.dumps(order_payload(fresh_order_id())).encode()  # never a duplicate
        headers = shopify_sender.headers(shop=shop, secret=secret, topic="orders/create", body=body)
        try:
            return requests.post(url, data=body, headers=headers, timeout=30).status_code == 200
        except requests.ConnectionError:
            return False

    return probe


def settle(load: Callable[..., Load], emulators: dict[str, int], *, limit_s: float) -> float:
    """More warm-up, in 5 s runs, while the emulators' CPU per request still falls by more
    than a tenth from one run to the next (their JIT at work), for at most ``limit_s``.
    Returns the seconds added. Until then they take CPU the function would have had, and
    the webhook's figures say more about the emulators' warm-up than about the webhook."""
    spent, previous = 0.0, None
    while spent < limit_s:
        run = load(seconds=5, watch=emulators)
        spent += 5
        cost = sum(run.cpu_ms.get(name, 0.0) for name in emulators)
        if previous is not None and cost > 0.9 * previous:
            break
        previous = cost
    return spent


def batch_sizes(url: str) -> dict[int, int]:
    """The group-commit batches an instance of ``shopify_webhook_counted`` sent so far."""
    answer = requests.get(url, params={"batch_sizes": ""}, timeout=30)
    answer.raise_for_status()
    return {int(size): count for size, count in answer.json().items()}


def batch_line(batches: dict[int, int]) -> str:
    """Mean items per batch, and the batches by size (the busiest sizes first)."""
    total, items = sum(batches.values()), sum(s * n for s, n in batches.items())
    if not total:
        return "no batches"
    common = sorted(batches.items(), key=lambda kv: -kv[1])[:6]
    shown = ", ".join(f"{size}: {100 * n / total:.0f}%" for size, n in common)
    return f"{items / total:.2f} items per batch over {total:,} batches ({shown})"


def get_probe(url: str) -> bool:
    try:
        return requests.get(url, timeout=30).status_code == 200
    except requests.ConnectionError:
        return False


def deployed_threads(function: str = "shopify_webhook") -> int:
    """The gunicorn threads ``infra/main.tf`` sets for a function (``THREADS``), or
    functions-framework's default (4 per core) if it sets none."""
    import hcl2

    default = 4 * (os.cpu_count() or 1)
    for block in hcl2.loads((ROOT / "infra" / "main.tf").read_text()).get("locals", []):
        env = block.get("functions", {}).get(function, {}).get("env", {})
        if "THREADS" in env:
            return int(str(env["THREADS"]).strip('"'))
    return default


# ------------------------------------------------------------------ wrk
WRK_SCRIPT = """
-- Every request a signed orders/create of its own order (id, body, signature) with its
-- own X-Shopify-Webhook-Id. HMAC-SHA256 from the libcrypto wrk is linked with (LuaJIT FFI).
local ffi = require("ffi")
local bit = require("bit")
ffi.cdef [[
const void *EVP_sha256(void);
unsigned char *HMAC(const void *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
]]
local digest = ffi.new("unsigned char[64]")
local digest_len = ffi.new("unsigned int[1]")
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(bytes, len)
  local out = {}
  for i = 0, len - 1, 3 do
    local a, b, c = bytes[i], i + 1 < len and bytes[i + 1] or 0, i + 2 < len and bytes[i + 2] or 0
    local triple = bit.bor(bit.lshift(a, 16), bit.lshift(b, 8), c)
    for j = 0, 3 do
      if i + j - 1 < len then
        local index = bit.band(bit.rshift(triple, 18 - 6 * j), 63)
        out[#out + 1] = ALPHABET:sub(index + 1, index + 1)
      else
        out[#out + 1] = "="
      end
    end
  end
  return table.concat(out)
end

local function signature(body)
  ffi.C.HMAC(ffi.C.EVP_sha256(), SECRET, #SECRET, body, #body, digest, digest_len)
  return base64(digest, digest_len[0])
end

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  run = args[1]
  n = 0
end
function request()
  n = n + 1
  local body = PREFIX .. "1" .. run .. string.format("%02d%010d", tid, n) .. SUFFIX
  wrk.headers["X-Shopify-Hmac-Sha256"] = signature(body)
  wrk.headers["X-Shopify-Webhook-Id"] = run .. "-" .. tid .. "-" .. n
  return wrk.format(nil, nil, nil, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "status": %d, "connect": %d, "read": %d,'
    .. ' "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


#: Stands for the order id in the body template; each request puts a 19-digit id there.
ID_SLOT = 4242424242424242424


def wrk_script(template: bytes, headers: dict[str, str], secret: str) -> str:
    """The Lua script: the body around ``ID_SLOT``, the headers but the per-request ones."""
    prefix, suffix = template.decode().split(str(ID_SLOT))
    lines = [
        'wrk.method = "POST"',
        f"SECRET = {lua_string(secret)}",
        f"PREFIX = {lua_string(prefix)}",
        f"SUFFIX = {lua_string(suffix)}",
    ]
    for key, value in headers.items():
        if key not in ("X-Shopify-Webhook-Id", "X-Shopify-Hmac-Sha256"):
            lines.append(f"wrk.headers[ {lua_string(key)} ] = {lua_string(value)}")
    return "\n".join(lines) + "\n" + WRK_SCRIPT


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def run_wrk(
    url: str,
    script: Path,
    *,
    concurrency: int,
    seconds: float,
    threads: int,
    watch: dict[str, int] | None = None,
) -> Load:
    """One wrk run; ``watch`` names process groups whose CPU time to account."""
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",
        f"{uuid.uuid4().int % 1_000_000:06d}",  # the run's part of every order id
    ]
    watch = watch or {}
    load_average = os.getloadavg()[0]
    cpu_before = {name: group_cpu(pid) for name, pid in watch.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {name: group_cpu(pid) - cpu_before[name] for name, pid in watch.items()}
    cpu["wrk"] = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    lines = [x for x in out.stdout.splitlines() if x.startswith("BENCH ")]
    if out.returncode or not lines:
        raise SystemExit(f"bench: wrk failed: {out.stderr.strip() or out.stdout.strip()}")
    line = lines[0]
    data = json.loads(line[len("BENCH ") :])
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    ok = data["requests"] - data["status"]
    per_request = {name: 1000 * seconds_used / max(ok, 1) for name, seconds_used in cpu.items()}
    return Load(
        rps=ok / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        non_2xx=data["status"],
        socket_errors=socket_errors,
        cpu_ms=per_request,
        load_average=load_average,
    )


# ------------------------------------------------------------------ import time
def import_seconds(source_dir: Path, modules: list[str], runs: int = 5) -> float:
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        f"for m in {modules!r}: __import__(m)\n"
        "print(time.perf_counter() - t)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(source_dir)}
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [str(VENV_BIN / "python"), "-c", code], env=env, capture_output=True, text=True
        )
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


# ------------------------------------------------------------------ end to end
def end_to_end(values: dict[str, str], n: int) -> list[float]:
    """Seconds from each order's 200 to its first appearance in the orders view."""
    from devstack import dataset

    client = dataset.bigquery_client(
        values["GOOGLE_CLOUD_PROJECT"], values["BIGQUERY_EMULATOR_HOST"]
    )
    view = f"`{values['GOOGLE_CLOUD_PROJECT']}.{values['BIGQUERY_DATASET']}.orders`"
    sql = f"SELECT order_id FROM {view} WHERE order_id IN UNNEST(@ids)"  # noqa: S608
    session = requests.Session()

    def post(order_id: int) -> float:
        response = shopify_sender.send(
            values["SHOPIFY_WEBHOOK_URL"],
            shop=values["SHOPIFY_SHOP_DOMAIN"],
            secret=values["SHOPIFY_API_SECRET"],
            topic="orders/create",
            payload=order_payload(order_id),
            session=session,
        )
        if response.status_code != 200:
            raise SystemExit(f"bench: webhook answered {response.status_code}: {response.text}")
        return time.perf_counter()

    def visible(ids: list[str]) -> set[str]:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ArrayQueryParameter("ids", "STRING", ids)]
        )
        return {row.order_id for row in client.query(sql, job_config=config).result()}

    def wait(ids: list[str], timeout: float = 60) -> dict[str, float]:
        seen: dict[str, float] = {}
        deadline = time.perf_counter() + timeout
        while len(seen) < len(ids) and time.perf_counter() < deadline:
            found = visible([i for i in ids if i not in seen])
            now = time.perf_counter()
            seen.update({i: now for i in found})
        missing = [i for i in ids if i not in seen]
        if missing:
            raise SystemExit(f"bench: {len(missing)} orders never reached the view")
        return seen

    warm = fresh_order_id()  # first request of a fresh instance pays its cold start
    post(warm)
    wait([str(warm)])
    latencies = []
    for _ in range(n):
        order_id = fresh_order_id()
        accepted = post(order_id)
        latencies.append(wait([str(order_id)])[str(order_id)] - accepted)
    return latencies


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


# ------------------------------------------------------------------ e-mail hook
def email_parse_rate() -> float:
    """The e-mail parsing figure: ``devstack.emailbench.parse_rate()``, e-mails per second
    (wall clock) over the shipped samples."""
    from devstack import emailbench

    return float(emailbench.parse_rate())


# ------------------------------------------------------------------ the run
def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5, help="length of each load run")
    parser.add_argument(
        "--warmup", type=float, default=20, help="seconds of load before measuring, per instance"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=60,
        help="at most this much more warm-up for the webhook, until the emulators settle",
    )
    parser.add_argument("--rounds", type=int, default=3, help="load runs per function")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="gunicorn threads of every instance (default: the deployed webhook's, infra/)",
    )
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--orders", type=int, default=20, help="orders for end to end")
    parser.add_argument("--keep-stack", action="store_true")
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="after the load runs, profile one more webhook run with py-spy (collapsed stacks)",
    )
    parser.add_argument(
        "--dev-stack",
        action="store_true",
        help="use the running dev stack (.dev/endpoints.env) instead of starting one",
    )
    parser.add_argument(
        "--only",
        choices=["load", "cold", "e2e", "email", "chatbot", "sync", "gmail", "crmapp"],
        action="append",
        default=None,
    )
    parser.add_argument("--gmail-orders", type=int, default=500, help="order mails, catch-up")
    parser.add_argument("--gmail-others", type=int, default=2000, help="other mails, catch-up")
    args = parser.parse_args(argv)
    only = set(args.only or ["load", "cold", "e2e", "email", "chatbot", "sync", "gmail", "crmapp"])

    base = int(os.environ.get("ORDERHUB_BENCH_PORT_BASE", "10000"))
    if args.dev_stack:
        stack = Stack.from_env()
        values = read_env_file(stack.endpoints_file)
        if not values:
            raise SystemExit("bench: no dev stack running (scripts/dev up)")
    else:
        stack = Stack(state_dir=ROOT / ".dev" / "bench-stack", base=base)
        print(f"bench: starting a stack on port base {base} …", file=sys.stderr)
        values = stack.up()
    logs = ROOT / ".dev" / "bench-logs"
    try:
        results = measure(args, only, values, base, logs, stack.running())
    finally:
        if not args.dev_stack and not args.keep_stack:
            stack.down()
    print(report(args, results))
    return 0


def measure(
    args: argparse.Namespace,
    only: set[str],
    values: dict[str, str],
    base: int,
    logs: Path,
    stack_pids: dict[str, int],
) -> dict[str, Any]:
    os.environ["PUBSUB_EMULATOR_HOST"] = values["PUBSUB_EMULATOR_HOST"]
    from google.api_core import exceptions
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    with contextlib.suppress(exceptions.AlreadyExists):
        publisher.create_topic(
            name=publisher.topic_path(values["GOOGLE_CLOUD_PROJECT"], SINK_TOPIC)
        )

    shop, secret = values["SHOPIFY_SHOP_DOMAIN"], values["SHOPIFY_API_SECRET"]
    run = uuid.uuid4().hex[:8]
    threads = str(args.threads or deployed_threads())
    plain_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"THREADS": threads}
    webhook_env = {
        **plain_env,
        **values,
        "ORDER_EVENTS_TOPIC": SINK_TOPIC,
        "FIRESTORE_PREFIX": f"bench-{run}-",
        "PYTHONPATH": str(ROOT / "functions"),
    }
    hello = Instance(
        "hello-world", HELLO_SOURCE, "hello", base + HELLO_OFFSET, plain_env, get_probe
    )
    webhook = Instance(
        "shopify_webhook",
        WEBHOOK_SOURCE,
        "shopify_webhook",
        base + WEBHOOK_OFFSET,
        webhook_env,
        signed_probe(shop, secret),
    )
    # Under load: the same entry point, which also tells its group-commit batch sizes.
    counted = Instance(
        "shopify_webhook",
        HELLO_SOURCE,
        "shopify_webhook_counted",
        base + WEBHOOK_OFFSET,
        webhook_env,
        signed_probe(shop, secret),
    )
    # The webhook's own work without its claim and publish: what the client calls cost.
    floor = Instance(
        "webhook-without-io",
        HELLO_SOURCE,
        "webhook_without_io",
        base + FLOOR_OFFSET,
        webhook_env,
        signed_probe(shop, secret),
    )
    results: dict[str, Any] = {
        "threads": threads,
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start",
        "commit": git_commit(),
    }

    if "cold" in only:
        cold: dict[str, list[float]] = {"hello": [], "webhook": []}
        for _ in range(args.cold_runs):  # alternate, so both see the same background
            for key, inst in (("hello", hello), ("webhook", webhook)):
                with inst.running(logs / f"{inst.label}.log") as (seconds, _pid):
                    cold[key].append(seconds)
        results["cold"] = {k: statistics.median(v) for k, v in cold.items()}
        results["import_webhook"] = import_seconds(
            ROOT / "functions", ["main", "orderhub.shopify_webhook.entry"]
        )
        results["import_hello"] = import_seconds(HELLO_SOURCE.parent, ["main"])

    if "load" in only:
        if shutil.which("wrk") is None:
            results["load"] = None
        else:
            template = json.dumps(order_payload(ID_SLOT)).encode()
            headers = shopify_sender.headers(
                shop=shop, secret=secret, topic="orders/create", body=template
            )
            with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as running:
                script = Path(tmp) / "orders_create.lua"
                script.write_text(wrk_script(template, headers, secret))
                pids = {}
                loaded = (("hello", hello), ("webhook", counted), ("floor", floor))
                emulators = {
                    name: pid for name, pid in stack_pids.items() if name in ("firestore", "pubsub")
                }
                for key, inst in loaded:
                    _, pids[key] = running.enter_context(inst.running(logs / f"{inst.label}.log"))
                    wrk = functools.partial(
                        run_wrk,
                        inst.url,
                        script,
                        concurrency=args.concurrency,
                        threads=args.wrk_threads,
                    )
                    # Warm-up, discarded: the emulators' JVMs (and batching) take ~20 s of
                    # load to reach their steady state; hello-world is steady at once.
                    wrk(seconds=args.warmup)
                    if inst is counted:  # on a busy machine their JIT takes longer
                        results["settled_after"] = args.warmup + settle(
                            wrk, emulators, limit_s=args.settle
                        )
                rounds: dict[str, list[Load]] = {key: [] for key, _ in loaded}
                for _ in range(args.rounds):  # alternate, so all see the same background
                    for key, inst in loaded:
                        watched = {"function": pids[key], **emulators}
                        before = batch_sizes(inst.url) if inst is counted else {}
                        run = run_wrk(
                            inst.url,
                            script,
                            concurrency=args.concurrency,
                            seconds=args.seconds,
                            threads=args.wrk_threads,
                            watch=watched,
                        )
                        if inst is counted:
                            after = batch_sizes(inst.url)
                            run = dataclasses.replace(
                                run,
                                batches={
                                    size: n - before.get(size, 0)
                                    for size, n in after.items()
                                    if n > before.get(size, 0)
                                },
                            )
                        rounds[key].append(run)
                results["load"] = {k: median_load(v) for k, v in rounds.items()}
                results["load_runs"] = {
                    k: [(r.rps, r.load_average) for r in v] for k, v in rounds.items()
                }
                if args.py_spy:
                    results["py_spy"] = profile(
                        args.py_spy,
                        pids["webhook"],
                        functools.partial(
                            run_wrk,
                            counted.url,
                            script,
                            concurrency=args.concurrency,
                            seconds=args.seconds,
                            threads=args.wrk_threads,
                        ),
                    )

    if "e2e" in only:
        results["e2e"] = end_to_end(values, args.orders)
    if "email" in only:
        results["email"] = email_parse_rate()
    if "chatbot" in only:
        from devstack import bench_chatbot

        results["chatbot"] = bench_chatbot.measure(
            values,
            base,
            logs,
            seconds=args.seconds,
            warmup=min(args.warmup, 5),
            concurrency=args.concurrency,
            wrk_threads=args.wrk_threads,
            sink_topic=SINK_TOPIC,
        )
    if "sync" in only:  # shopify_sync's backlog against the cost bucket (devstack/bench_sync.py)
        from devstack import bench_sync

        results["sync"] = bench_sync.run(orders=100, restore=100.0, bucket=200.0)
    if "gmail" in only:
        from devstack import bench_gmail

        results["gmail"] = bench_gmail.catch_up(values, args.gmail_orders, args.gmail_others)
    if "crmapp" in only:  # the CRM app's pages with 10,000 orders (devstack/bench_crmapp.py)
        from devstack import bench_crmapp

        results["crmapp"] = bench_crmapp.measure(values)
    return results


def profile(out: Path, pid: int, load: Callable[[], Load]) -> dict[str, list[tuple[float, str]]]:
    """``py-spy record`` of an instance (its gunicorn worker) while ``load`` runs, sampling
    the thread that holds the GIL (so: the Python CPU, not threads waiting for it); the
    collapsed stacks go to ``out``. Returns (share of samples, frame) for the busiest frames
    by own samples ("own") and for OrderHub's frames with what they call ("orderhub")."""
    spy = str(VENV_BIN / "py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [spy, "record", "--pid", str(pid), "--subprocesses", "--rate", "200", "--gil"]
    recorder = subprocess.Popen(
        [*argv, "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1)  # py-spy attaches
        load()
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        _, err = recorder.communicate(timeout=60)
    if not out.exists():
        raise SystemExit(f"bench: py-spy wrote nothing: {err.decode().strip()}")
    own: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        # a frame is "name (path:line)"; once per stack, whatever the line
        for name in {f.rsplit(":", 1)[0] + ")" for f in frames if "orderhub/" in f}:
            ours[name] = ours.get(name, 0) + int(count)
        total += int(count)

    def top(counts: dict[str, int], n: int) -> list[tuple[float, str]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
        return [(c / max(total, 1), frame) for frame, c in ranked]

    return {"own": top(own, 12), "orderhub": top(ours, 12)}


def git_commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True).stdout
    return out.stdout.strip() + ("+changes" if dirty.strip() else "")


def cpu_line(cpu: dict[str, float]) -> str:
    parts = [cpu.get(k, 0.0) for k in ("function", "firestore", "pubsub")]
    return (
        " + ".join(f"{p:.2f}" for p in parts)
        + f" = {sum(parts):.2f} ms (+ {cpu.get('wrk', 0.0):.2f})"
    )


def report(args: argparse.Namespace, r: dict[str, Any]) -> str:
    rows = [
        "| figure | OrderHub | baseline, same run | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    load: dict[str, Load] | None = r.get("load")
    if "load" in r and load is None:
        rows.append("| webhook load | n/a (wrk not installed) | | | | |")
    elif load:
        w, h = load["webhook"], load["hello"]
        ratio = w.rps / h.rps
        c = args.concurrency
        rows.append(
            f"| webhook throughput, {c} concurrent, signed orders/create | {w.rps:,.0f} req/s "
            f"| {h.rps:,.0f} req/s (hello-world) | {ratio:.2f} | ≥ 0.50 | {yes(ratio >= 0.5)} |"
        )
        rows.append(
            f"| webhook latency p50 / p99 | {w.p50_ms:.1f} / {w.p99_ms:.1f} ms "
            f"| {h.p50_ms:.1f} / {h.p99_ms:.1f} ms | {w.p99_ms / h.p99_ms:.2f} (p99) "
            f"| p99 < 50 ms | {yes(w.p99_ms < 50)} |"
        )
        rows.append(
            f"| CPU per request: function + Firestore emu + Pub/Sub emu (+ wrk) "
            f"| {cpu_line(w.cpu_ms)} | {cpu_line(h.cpu_ms)} "
            f"| {w.cpu_ms['function'] / h.cpu_ms['function']:.1f} (function) | | |"
        )
        if w.batches is not None:
            rows.append(
                f"| webhook group-commit batches (claims + publish per round of RPCs) "
                f"| {batch_line(w.batches)} | | | | |"
            )
        f = load.get("floor")
        if f:
            rows.append(
                f"| the same webhook without its claim and publish (no RPCs), throughput / p99 "
                f"| {f.rps:,.0f} req/s / {f.p99_ms:.1f} ms, CPU {f.cpu_ms['function']:.2f} ms "
                f"| {h.rps:,.0f} req/s | {f.rps / h.rps:.2f} | | |"
            )
        if w.non_2xx or w.socket_errors or h.non_2xx or h.socket_errors:
            rows.append(
                f"| failed requests (non-2xx / socket) | {w.non_2xx} / {w.socket_errors} "
                f"| {h.non_2xx} / {h.socket_errors} | | 0 | {yes(not w.non_2xx)} |"
            )
    if "cold" in r:
        cw, ch = r["cold"]["webhook"], r["cold"]["hello"]
        rows.append(
            f"| cold start, process start → first 200 (median of {args.cold_runs}) "
            f"| {fmt_s(cw)} | {fmt_s(ch)} (hello-world) | {cw / ch:.2f}× | ≤ 1.5× "
            f"| {yes(cw / ch <= 1.5)} |"
        )
        rows.append(
            f"| import time, `main` + webhook adapter | {r['import_webhook'] * 1000:.0f} ms "
            f"| {r['import_hello'] * 1000:.0f} ms (hello `main`) | | | |"
        )
    if "e2e" in r:
        e2e = r["e2e"]
        p50, p95 = percentile(e2e, 50), percentile(e2e, 95)
        rows.append(
            f"| end to end, webhook 200 → row in `orders` view, p50 / p95 ({len(e2e)} orders) "
            f"| {fmt_s(p50)} / {fmt_s(p95)} | — | | p95 < 3 s | {yes(p95 < 3)} |"
        )
    if "email" in r:
        rate = r["email"]
        rows.append(
            f"| e-mail parsing, shipped samples | {rate:,.0f} e-mails/s | — | | ≥ 200/s"
            f" | {yes(rate >= 200)} |"
        )
    if "chatbot" in r:
        from devstack import bench_chatbot

        rows += bench_chatbot.report_rows(r["chatbot"])
    if "sync" in r:
        sync = r["sync"]
        ratio = sync["orders_per_s"] / sync["allowance_orders_per_s"]
        rows.append(
            f"| Shopify sync, backlog of {sync['orders']:.0f} orders drained (stand-in bucket"
            f" 200 points, 100/s) | {sync['orders_per_s']:.2f} orders/s,"
            f" {sync['throttled_answers']:.0f} of {sync['calls']:.0f} calls THROTTLED"
            f" | {sync['allowance_orders_per_s']:.2f} orders/s allowed"
            f" ({sync['points_per_order']:.0f} points per order) | {ratio:.2f}"
            f" | ≈ 1, no THROTTLED | {yes(0.8 <= ratio <= 1.2 and not sync['throttled_answers'])} |"
        )
    if "gmail" in r:
        from devstack import bench_gmail

        rows += bench_gmail.rows(r["gmail"])
    if "crmapp" in r:
        from devstack import bench_crmapp

        rows += bench_crmapp.report(r["crmapp"])
    spied = r.get("py_spy")
    if spied:
        for kind, title in (
            ("own", "the webhook's busiest frames by own samples"),
            ("orderhub", "OrderHub's frames with what they call"),
        ):
            rows += ["", f"py-spy (`--gil`, one extra run), {title}:", ""]
            rows += [f"- {share:5.1%} `{frame}`" for share, frame in spied[kind]]
    runs = r.get("load_runs")
    if runs:
        each = "; ".join(
            f"{name} " + " / ".join(f"{rps:,.0f} ({load:.1f})" for rps, load in values)
            for name, values in runs.items()
        )
        rows.append("")
        rows.append(f"Load runs in the order made, req/s (load average as each began): {each}.")
    settled = (
        f" (the webhook's {r['settled_after']:.0f} s, until the emulators' CPU per request settled)"
        if "settled_after" in r
        else ""
    )
    head = (
        f"Measured by `scripts/bench` at commit {r['commit']} on {r['machine']}; load by "
        f"wrk -t{args.wrk_threads} -c{args.concurrency} -d{args.seconds:.0f}s against "
        f"instances of {r['threads']} gunicorn threads, after "
        f"{args.warmup:.0f} s of warm-up{settled}, median of {args.rounds} alternating runs "
        f"(each request a different signed order, fresh webhook id).\n"
    )
    return head + "\n" + "\n".join(rows)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main(sys.argv[1:]))
