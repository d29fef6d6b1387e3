"""The local stack: Google's emulators, the BigQuery emulator, every function, stand-ins.

``up`` starts what is not already running (detached, each in its own process group),
waits until everything answers, creates topics, push subscriptions and the dataset,
and writes ``endpoints.env``. Running it twice is harmless. ``down`` stops it all.

Where things live (``ORDERHUB_DEV_DIR``, default ``.dev/``): ``endpoints.env`` (every
URL, port and dev secret), ``pids.json``, ``logs/<component>.log``, emulator data.
Ports start at ``ORDERHUB_DEV_PORT_BASE`` (default 8600), so a second stack (the test
command's) can run beside a developer's.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from devstack.standins import shopify_writes

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "orderhub-local"
DATASET = "crm"
DEMO_SHOP = "orderhub-demo.myshopify.com"
ORDER_EVENTS_TOPIC = "order-events"
GMAIL_PUSH_TOPIC = "gmail-push"
DEMO_MAILBOX = "owner.shop@gmail.example"
GMAIL_STANDIN_OFFSET = 30
#: The managers' Firestore database (a second database in the same emulator), as in
#: production, where functions may only read it.
MANAGERS_DATABASE = "managers"
#: The CRM app's writable state (switches, preferences, installations, its sessions and
#: marks): a database of its own, as in production (docs/app-state.md).
APP_DATABASE = "crm-app"


@dataclass(frozen=True)
class Function:
    """A Cloud Function served locally by functions-framework on its own port."""

    name: str
    signature: str  # "http" | "cloudevent"
    offset: int  # port = base + offset
    #: (topic, subscription) pairs whose messages are pushed to this function.
    subscriptions: tuple[tuple[str, str], ...] = ()


#: Every function of the project. Keep in step with functions/main.py and infra/.
FUNCTIONS: tuple[Function, ...] = (
    Function("shopify_webhook", "http", 10),
    Function("crm_writer", "cloudevent", 11, ((ORDER_EVENTS_TOPIC, "crm-writer"),)),
    Function("gmail_ingest", "cloudevent", 12, ((GMAIL_PUSH_TOPIC, "gmail-ingest"),)),
    Function("gmail_watch_renew", "http", 13),
    Function("order_form", "http", 14),
    Function("notifier", "cloudevent", 15, ((ORDER_EVENTS_TOPIC, "notifier"),)),
    Function("shopify_reconcile", "http", 16),
    Function("chatbot", "http", 21),
    Function("privacy_erase", "http", 17),
    Function("shopify_sync", "cloudevent", 18, ((ORDER_EVENTS_TOPIC, "shopify-sync"),)),
)

#: Stand-ins for services we cannot run: name → port offset.
STANDINS: dict[str, int] = {
    "gmail": GMAIL_STANDIN_OFFSET,
    "shopify_admin": 31,
    "manychat": 32,
    "webpush": 33,
}
#: The manager the dev stack creates for the order form (password in endpoints.env).
DEMO_MANAGER = "demo"
#: The CRM app's demo owner (password CRM_OWNER_PASSWORD in endpoints.env).
DEMO_OWNER = "owner"

#: The managers the dev stack tells (ManyChat subscriber ids of the stand-in).
DEMO_MANAGERS = (
    {"subscriber_id": "1000001", "name": "Demo Manager One"},
    {"subscriber_id": "1000002", "name": "Demo Manager Two"},
)

#: Dead letters: after this many deliveries a push message moves to ``<sub>-dead-letter``.
MAX_DELIVERY_ATTEMPTS = 5
#: The local stack's longest wait before Pub/Sub redelivers a message its function failed
#: (production waits 10 s to 600 s: infra/scripts/attach-dead-letters).
MAX_BACKOFF_SECONDS = 10

#: The state directory of the test command's stack (``scripts/test``: ``.dev/test-stack``).
TEST_STACK_DIR = "test-stack"
#: The JVM options of the Pub/Sub and Firestore emulators: the quick compiler only, and one
#: garbage-collection thread. They run minutes, not days, on 2 cores: the optimising
#: compiler's and the parallel collector's threads cost more CPU than they win back. A
#: load of 400 creates, reads and transactions on the Firestore emulator: 7.6 → 3.9 CPU s,
#: 5.7 → 4.2 s wall; its start: 2.4 → 1.7 CPU s. ``JAVA_TOOL_OPTIONS`` of your own wins.
EMULATOR_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
#: The test command's second stack (``Stack.lone``), beside the first: its state directory
#: is the first's with this suffix, its ports start this far above the first's.
LONE_SUFFIX, LONE_PORT_OFFSET = "-alone", 100
#: What the test stack sets shorter than production (and than ``scripts/dev``'s stack), so
#: that tests waiting for it wait less (the code paths are the same):
#: how long the webhook and reconciliation keep a shop's sync switches (production: 30 s).
TEST_SYNC_SETTINGS_CACHE_SECONDS = "1"
#: and the scrypt cost of its managers' passwords (production: OWASP's 2^17), which the
#: functions read from ``sessions.LOCAL_SCRYPT_N_ENV``: a sign-in costs 1/32 of the CPU
#: (the e2e tests sign in some 60 times a run; at 2^17 that was 20 s of the stack's CPU).
TEST_SCRYPT_N = 2**12


def dead_letter_name(subscription: str) -> str:
    """The dead-letter topic of a subscription, and the pull subscription on it."""
    return f"{subscription}-dead-letter"


#: Topics that exist without a local consumer (yet).
EXTRA_TOPICS: tuple[str, ...] = ()


@dataclass
class Stack:
    state_dir: Path
    base: int
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Stack:
        state = Path(os.environ.get("ORDERHUB_DEV_DIR", ROOT / ".dev"))
        base = int(os.environ.get("ORDERHUB_DEV_PORT_BASE", "8600"))
        return cls(state_dir=state if state.is_absolute() else ROOT / state, base=base)

    # ----------------------------------------------------------------- layout
    @property
    def is_test_stack(self) -> bool:
        """One of the test command's stacks (their ``TEST_*`` settings are shorter)."""
        return self.state_dir.name in (TEST_STACK_DIR, TEST_STACK_DIR + LONE_SUFFIX)

    def lone(self) -> Stack:
        """The second stack beside this one, for the tests that must have a stack to
        themselves (``ALONE`` in tests/conftest.py): its own emulators, functions and
        stand-ins, state in ``<state dir>-alone``, ports from ``base + 100`` (the dev
        terminal tests' stacks use base + 50 to base + 99)."""
        name = self.state_dir.name + LONE_SUFFIX
        return Stack(state_dir=self.state_dir.with_name(name), base=self.base + LONE_PORT_OFFSET)

    @property
    def endpoints_file(self) -> Path:
        return self.state_dir / "endpoints.env"

    @property
    def pids_file(self) -> Path:
        return self.state_dir / "pids.json"

    def log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def port(self, offset: int) -> int:
        return self.base + offset

    def function_url(self, fn: Function) -> str:
        return f"http://127.0.0.1:{self.port(fn.offset)}"

    def endpoints(self) -> dict[str, str]:
        """Every URL, port and dev secret, as written to endpoints.env."""
        previous = read_env_file(self.endpoints_file)
        secret = previous.get("SHOPIFY_API_SECRET") or secrets.token_hex(16)

        def kept(name: str, make: Callable[[], str]) -> str:
            return previous.get(name) or make()

        admin_token = kept("SHOPIFY_ADMIN_TOKEN", lambda: "shpat_" + secrets.token_hex(16))
        # Web Push (VAPID, RFC 8292): dev keys made for this stack only, kept across ups.
        vapid_private, vapid_public = (
            previous.get("VAPID_PRIVATE_KEY"),
            previous.get("VAPID_PUBLIC_KEY"),
        )
        if not (vapid_private and vapid_public):
            from devstack.standins.webpush import new_vapid_keys

            vapid_private, vapid_public = new_vapid_keys()
        client_id = kept("SHOPIFY_CLIENT_ID", lambda: secrets.token_hex(16))

        values = {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "BIGQUERY_DATASET": DATASET,
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.port(0)}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.port(1)}",
            "BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{self.port(2)}",
            "ORDER_EVENTS_TOPIC": ORDER_EVENTS_TOPIC,
            "SHOPIFY_SHOP_DOMAIN": DEMO_SHOP,
            "SHOPIFY_API_SECRET": secret,
            "SHOPIFY_WEBHOOK_SECRETS": json.dumps({DEMO_SHOP: secret}),
            "GMAIL_API_URL": f"http://127.0.0.1:{self.port(GMAIL_STANDIN_OFFSET)}",
            "GMAIL_MAILBOX": DEMO_MAILBOX,
            "GMAIL_PUSH_TOPIC": GMAIL_PUSH_TOPIC,
            # Stored rules (/services) reach gmail_ingest this late at most (production: 60 s).
            "EMAIL_RULES_TTL_SECONDS": "2",
            "SHOPIFY_ADMIN_URL": f"http://127.0.0.1:{self.port(STANDINS['shopify_admin'])}",
            # The demo Dev Dashboard app: every function gets client-credentials tokens
            # from the stand-in's /admin/oauth/access_token, and its webhooks are signed
            # with the app's client secret (so SHOPIFY_API_SECRET is the same value).
            "SHOPIFY_CLIENT_ID": client_id,
            "SHOPIFY_CLIENT_SECRET": secret,
            # A legacy static token, still accepted (tests and the old custom-app path).
            "SHOPIFY_ADMIN_TOKEN": admin_token,
            # The stand-in knows one app; in production the CRM app has its own,
            # write_draft_orders-only app (see OrderFormSettings and docs/deploy.md).
            "ORDER_FORM_SHOPIFY_TOKEN": admin_token,
            "ORDER_FORM_SHOPIFY_CLIENT_ID": client_id,
            "ORDER_FORM_SHOPIFY_CLIENT_SECRET": secret,
            "ORDER_FORM_SESSION_SECRET": kept(
                "ORDER_FORM_SESSION_SECRET", lambda: secrets.token_urlsafe(32)
            ),
            "ORDER_FORM_DEMO_MANAGER": DEMO_MANAGER,
            "ORDER_FORM_DEMO_PASSWORD": kept(
                "ORDER_FORM_DEMO_PASSWORD", lambda: secrets.token_urlsafe(12)
            ),
            # The CRM app (served by order_form) and its demo owner (settings, sync switches).
            "CRM_OWNER_NAME": DEMO_OWNER,
            "CRM_OWNER_PASSWORD": kept("CRM_OWNER_PASSWORD", lambda: secrets.token_urlsafe(12)),
            "MANYCHAT_API_URL": f"http://127.0.0.1:{self.port(STANDINS['manychat'])}",
            "MANYCHAT_TOKEN": kept("MANYCHAT_TOKEN", lambda: secrets.token_hex(16)),
            "NOTIFY_MANAGERS": json.dumps(list(DEMO_MANAGERS)),
            "VAPID_PRIVATE_KEY": vapid_private,
            "VAPID_PUBLIC_KEY": vapid_public,
            "VAPID_SUBJECT": "mailto:owner@orderhub-demo.invalid",
            "WEBPUSH_STANDIN_URL": f"http://127.0.0.1:{self.port(STANDINS['webpush'])}",
            # The chat-bot's shared secret: ManyChat sends it in this header (README).
            "CHATBOT_SECRET": kept("CHATBOT_SECRET", lambda: secrets.token_urlsafe(24)),
            # Keys the digests of identifiers the privacy audit keeps (and logs show).
            "PRIVACY_DIGEST_KEY": kept("PRIVACY_DIGEST_KEY", lambda: secrets.token_urlsafe(32)),
            "CHATBOT_SECRET_HEADER": "X-OrderHub-Secret",
            "CHATBOT_STORE_URL": "https://" + DEMO_SHOP,
            # Short, so that products sent a moment ago show in the catalogue (tests, demo).
            "CHATBOT_CACHE_SECONDS": "1",
            "MANAGERS_DATABASE": MANAGERS_DATABASE,
            "APP_DATABASE": APP_DATABASE,
            # The app id the Shopify stand-in gives the orders shopify_sync creates.
            "SHOPIFY_APP_IDS": str(shopify_writes.APP_ID),
        }
        if self.is_test_stack:
            values["SYNC_SETTINGS_CACHE_SECONDS"] = TEST_SYNC_SETTINGS_CACHE_SECONDS
        for fn in FUNCTIONS:
            values[f"{fn.name.upper()}_URL"] = self.function_url(fn)
        values["CRM_APP_URL"] = values["ORDER_FORM_URL"]
        return values

    # ------------------------------------------------------------- processes
    def _pids(self) -> dict[str, int]:
        if not self.pids_file.exists():
            return {}
        return {k: int(v) for k, v in json.loads(self.pids_file.read_text()).items()}

    def _save_pids(self, pids: dict[str, int]) -> None:
        self.pids_file.write_text(json.dumps(pids, indent=1))

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> int:
        log = self.log_path(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: down kills the JVMs too
            )
        return proc.pid

    def components(self) -> dict[str, tuple[list[str], dict[str, str], Callable[[], bool]]]:
        """name → (argv, environment, readiness probe)."""
        values = self.endpoints()
        base_env = {**os.environ, **values, "PYTHONUNBUFFERED": "1"}
        data = self.state_dir / "data"
        (data / "pubsub").mkdir(parents=True, exist_ok=True)
        venv_bin = ROOT / ".venv" / "bin"
        jvm_env = {"JAVA_TOOL_OPTIONS": EMULATOR_JVM_OPTIONS, **os.environ}
        comps: dict[str, tuple[list[str], dict[str, str], Callable[[], bool]]] = {
            "pubsub": (
                [
                    "gcloud",
                    "beta",
                    "emulators",
                    "pubsub",
                    "start",
                    f"--host-port=127.0.0.1:{self.port(0)}",
                    f"--project={PROJECT}",
                    f"--data-dir={data / 'pubsub'}",
                    "--quiet",
                ],
                jvm_env,
                lambda: http_ok(f"http://127.0.0.1:{self.port(0)}/"),
            ),
            "firestore": (
                [
                    "gcloud",
                    "emulators",
                    "firestore",
                    "start",
                    f"--host-port=127.0.0.1:{self.port(1)}",
                    "--quiet",
                ],
                jvm_env,
                lambda: http_ok(f"http://127.0.0.1:{self.port(1)}/"),
            ),
            "bigquery": (
                [
                    str(ROOT / ".venv-bq" / "bin" / "python"),
                    str(ROOT / "devstack" / "bq_launcher.py"),
                    "start",
                    "--rest-host",
                    "127.0.0.1",
                    "--rest-port",
                    str(self.port(2)),
                    "--grpc-host",
                    "127.0.0.1",
                    "--grpc-port",
                    str(self.port(3)),
                    "--project",
                    PROJECT,
                    "--log-level",
                    "warning",
                ],
                dict(os.environ),
                lambda: http_answers(f"http://127.0.0.1:{self.port(2)}/"),
            ),
            "gmail": (
                [
                    str(venv_bin / "python"),
                    "-m",
                    "devstack.standins.gmail",
                    "--port",
                    str(self.port(GMAIL_STANDIN_OFFSET)),
                    "--mailbox",
                    DEMO_MAILBOX,
                ],
                {**os.environ, "PYTHONPATH": str(ROOT)},
                lambda: http_ok(f"{values['GMAIL_API_URL']}/_standin/health"),
            ),
        }
        comps["shopify_admin"] = (
            [
                str(venv_bin / "python"),
                "-m",
                "devstack.standins.shopify_admin",
                "--port",
                str(self.port(STANDINS["shopify_admin"])),
                "--shop",
                DEMO_SHOP,
            ],
            {**base_env, "PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}"},
            lambda: http_ok(values["SHOPIFY_ADMIN_URL"] + "/"),
        )
        comps["manychat"] = (
            [
                str(venv_bin / "python"),
                "-m",
                "devstack.standins.manychat",
                "--port",
                str(self.port(STANDINS["manychat"])),
            ],
            {**base_env, "PYTHONPATH": str(ROOT)},
            lambda: http_ok(values["MANYCHAT_API_URL"] + "/"),
        )
        comps["webpush"] = (
            [
                str(venv_bin / "python"),
                "-m",
                "devstack.standins.webpush",
                "--port",
                str(self.port(STANDINS["webpush"])),
            ],
            {**base_env, "PYTHONPATH": str(ROOT)},
            lambda: http_ok(values["WEBPUSH_STANDIN_URL"] + "/"),
        )
        from orderhub.order_form import sessions

        fn_env = {**base_env, "PYTHONPATH": str(ROOT / "functions")}
        if self.is_test_stack:
            fn_env[sessions.LOCAL_SCRYPT_N_ENV] = str(TEST_SCRYPT_N)
        for fn in FUNCTIONS:
            url = self.function_url(fn)
            comps[fn.name] = (
                [
                    str(venv_bin / "functions-framework"),
                    "--source",
                    str(ROOT / "functions" / "main.py"),
                    "--target",
                    fn.name,
                    "--signature-type",
                    fn.signature,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port(fn.offset)),
                ],
                fn_env,
                lambda url=url: http_answers(url + "/"),
            )
        return comps

    def running(self) -> dict[str, int]:
        return {name: pid for name, pid in self._pids().items() if alive(pid)}

    def up(self, *, timeout: float = 90.0) -> dict[str, str]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        values = self.endpoints()
        write_env_file(self.endpoints_file, values)
        pids = self.running()
        comps = self.components()
        for name, (argv, env, probe) in comps.items():
            if name in pids and probe():
                continue
            if name in pids:  # alive but not answering: start it afresh
                kill_group(pids.pop(name))
            port_busy = [p for p in self._ports_of(name) if port_in_use(p)]
            if port_busy:
                raise SystemExit(
                    f"dev: port {port_busy[0]} for {name} is taken by another program; "
                    "stop it, or set ORDERHUB_DEV_PORT_BASE"
                )
            pids[name] = self._spawn(name, argv, env)
            self._save_pids(pids)  # at once: a stop during start-up finds every process
        self._save_pids(pids)
        deadline = time.monotonic() + timeout
        for name, (_argv, _env, probe) in comps.items():
            while not probe():
                if not alive(pids[name]):
                    raise SystemExit(f"dev: {name} exited; see {self.log_path(name)}")
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"dev: {name} did not answer in {timeout:.0f}s; see {self.log_path(name)}"
                    )
                time.sleep(0.2)
        self.provision(values)
        return values

    def _ports_of(self, name: str) -> list[int]:
        fixed = {"pubsub": [0], "firestore": [1], "bigquery": [2, 3]}
        fixed.update({name: [offset] for name, offset in STANDINS.items()})
        if name in fixed:
            return [self.port(o) for o in fixed[name]]
        return [self.port(fn.offset) for fn in FUNCTIONS if fn.name == name]

    def provision(self, values: dict[str, str]) -> None:
        """Topics, push subscriptions and the dataset; idempotent."""
        os.environ["PUBSUB_EMULATOR_HOST"] = values["PUBSUB_EMULATOR_HOST"]
        from google.api_core import exceptions
        from google.cloud import pubsub_v1

        from devstack import dataset

        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        topics = {t for fn in FUNCTIONS for t, _ in fn.subscriptions} | set(EXTRA_TOPICS)
        for topic in sorted(topics):
            try:
                publisher.create_topic(name=publisher.topic_path(PROJECT, topic))
            except exceptions.AlreadyExists:
                pass
        for fn in FUNCTIONS:
            for topic, sub in fn.subscriptions:
                dead = dead_letter_name(sub)
                dead_topic = publisher.topic_path(PROJECT, dead)
                try:
                    publisher.create_topic(name=dead_topic)
                except exceptions.AlreadyExists:
                    pass
                try:
                    subscriber.create_subscription(
                        name=subscriber.subscription_path(PROJECT, dead),
                        topic=dead_topic,
                        ack_deadline_seconds=60,
                    )
                except exceptions.AlreadyExists:
                    pass
                request = {
                    "name": subscriber.subscription_path(PROJECT, sub),
                    "topic": publisher.topic_path(PROJECT, topic),
                    "push_config": {"push_endpoint": self.function_url(fn) + "/"},
                    "ack_deadline_seconds": 30,
                    "retry_policy": {
                        "minimum_backoff": {"seconds": 1},
                        "maximum_backoff": {"seconds": MAX_BACKOFF_SECONDS},
                    },
                    "dead_letter_policy": {
                        "dead_letter_topic": dead_topic,
                        "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
                    },
                }
                try:
                    subscriber.create_subscription(request=request)
                except exceptions.AlreadyExists:
                    pass
        client = dataset.bigquery_client(PROJECT, values["BIGQUERY_EMULATOR_HOST"])
        dataset.create_dataset(client, DATASET)
        self.provision_demo_manager(values)

    def provision_demo_manager(self, values: dict[str, str]) -> None:
        """The order form's demo manager, with the password from endpoints.env."""
        os.environ["FIRESTORE_EMULATOR_HOST"] = values["FIRESTORE_EMULATOR_HOST"]
        from google.cloud import firestore

        from orderhub.order_form import sessions
        from orderhub.order_form.stores import FirestoreAccounts, Manager

        client = firestore.Client(project=PROJECT, database=MANAGERS_DATABASE)
        managers = FirestoreAccounts(client, "managers")
        n = TEST_SCRYPT_N if self.is_test_stack else None  # as its order_form hashes
        name, password = values["ORDER_FORM_DEMO_MANAGER"], values["ORDER_FORM_DEMO_PASSWORD"]
        existing = managers.get(name)
        if existing is None or not sessions.verify_password(password, existing.password_hash):
            managers.put(
                Manager(
                    id=name,
                    name="Demo manager",
                    password_hash=sessions.hash_password(password, n=n),
                ),
                now=datetime.now(UTC),
            )
        owner, owner_password = values["CRM_OWNER_NAME"], values["CRM_OWNER_PASSWORD"]
        existing = managers.get(owner)
        if (
            existing is None
            or not existing.is_owner
            or not sessions.verify_password(owner_password, existing.password_hash)
        ):
            managers.put(
                Manager(
                    id=owner,
                    name="Demo owner",
                    password_hash=sessions.hash_password(owner_password, n=n),
                    role="owner",
                ),
                now=datetime.now(UTC),
            )
        self._demo_managers(values)

    def _demo_managers(self, values: dict[str, str]) -> None:
        """Two demo managers in Firestore's settings/managers, unless someone set them."""
        os.environ["FIRESTORE_EMULATOR_HOST"] = values["FIRESTORE_EMULATOR_HOST"]
        from google.cloud import firestore

        client = firestore.Client(project=PROJECT, database=MANAGERS_DATABASE)
        doc = client.collection("settings").document("managers")
        if not doc.get().exists:
            doc.set({"managers": list(DEMO_MANAGERS)})

    def down(self) -> list[str]:
        running = {name: pid for name, pid in self._pids().items() if alive(pid)}
        kill_groups(list(running.values()))
        if self.pids_file.exists():
            self.pids_file.unlink()
        return list(running)


# ------------------------------------------------------------------ helpers
def read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


_SAFE = re.compile(r"[A-Za-z0-9_./:@,+-]*")


def write_env_file(path: Path, values: dict[str, str]) -> None:
    lines = ["# Written by scripts/dev: the local stack's endpoints and dev secrets."]
    # Quoted where needed so that `set -a; . endpoints.env` works in a shell too.
    lines += [f"{k}={v}" if _SAFE.fullmatch(v) else f"{k}='{v}'" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def kill_group(pid: int, grace: float = 5.0) -> None:
    kill_groups([pid], grace)


def kill_groups(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM to every process group at once, then SIGKILL to what is left after ``grace``
    seconds (one wait for all of them, not one after another)."""
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_answers(url: str) -> bool:
    """True once anything answers HTTP at the URL (any status)."""
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
    return True


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except (OSError, ValueError):
        return False


class Stop(BaseException):
    """A signal asked the foreground stack to stop (not an error: nothing to report)."""


#: Every way a foreground ``scripts/dev`` is ended short of SIGKILL: Ctrl-C, Ctrl-\,
#: ``kill`` (SIGTERM) and the terminal closed (SIGHUP).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _say(text: str) -> None:
    """Print, unless the terminal is gone (closed window: writes fail with EIO/EPIPE)."""
    try:
        print(text, flush=True)
    except OSError:
        pass


def run_in_foreground(stack: Stack) -> int:
    """Start the stack, replay the demo, wait; stop everything on any stop signal.

    The processes run in sessions of their own (so a stray Ctrl-C cannot half-kill an
    emulator), which also means the terminal's signals never reach them: this process
    stops them, whatever ended it, including a signal during start-up.
    """
    from devstack import demo

    def stop(signum: int, _frame: object) -> None:
        raise Stop(signal.Signals(signum).name)

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    reason = "stopped"
    try:
        values = stack.up()
        demo.replay(values)
        demo.show(values)
        _say("\ndev: the stack runs; Ctrl-C stops it.")
        while True:
            time.sleep(3600)
    except Stop as why:
        reason = str(why)
    finally:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        stopped = stack.down()
        _say(f"\ndev: {reason}: stopped {', '.join(stopped) or 'nothing'}")
    return 0


def main(argv: list[str]) -> int:
    stack = Stack.from_env()
    command = argv[0] if argv else "run"
    if command == "up":
        started = time.monotonic()
        values = stack.up()
        print(f"dev: up in {time.monotonic() - started:.1f}s; endpoints in {stack.endpoints_file}")
        for key, value in values.items():
            if key.endswith("_URL") or key.endswith("_HOST"):
                print(f"  {key}={value}")
        return 0
    if command == "down":
        stopped = stack.down()
        if stack.state_dir.name == TEST_STACK_DIR:  # and the test command's second stack
            stopped += [f"{name} (alone)" for name in stack.lone().down()]
        print(f"dev: stopped {', '.join(stopped) or 'nothing (not running)'}")
        return 0
    if command == "status":
        running = stack.running()
        for name in stack.components():
            state = f"running pid {running[name]}" if name in running else "stopped"
            print(f"  {name:18} {state}")
        return 0
    if command == "mail":
        from devstack import mail

        return mail.main(stack, argv[1:])
    if command == "run":
        return run_in_foreground(stack)
    print(
        f"usage: scripts/dev [up|down|status|mail FILE.eml]  (unknown command {command!r})",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
