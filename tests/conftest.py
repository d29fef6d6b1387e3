"""Shared fixtures.

* ``stack``: the local stack of the test run (started by ``scripts/test``; started here
  if it is not running, so plain ``pytest`` works too). Integration and e2e tests use its
  emulators; each test isolates itself with its own topics, collections and dataset.
* ``os.environ`` is restored after every test.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True, scope="session")
def _verify_each_password_once() -> Iterator[None]:
    """Sign-ins in this test process check each (password, stored hash) pair with scrypt
    once, and reuse that answer: ``verify_password`` is a pure function of the two, and at
    the real cost (N=2^17, ~0.5 s of CPU) the app's sign-ins in the tests took ~100 s of
    the run's CPU. Every pair is still checked by the real code the first time (a wrong
    password, an unknown manager, an old hash), and the unit tests of ``sessions`` call it
    directly, unmemoised. The running stack's ``order_form`` is not touched."""
    from orderhub.order_form import service

    real = service.verify_password
    service.verify_password = functools.cache(real)
    yield
    service.verify_password = real


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """endpoints.env of the running test stack (started if needed), and this process
    pointed at its emulators: the ``ALONE`` tests' own stack (``Stack.lone``) for them, the
    shared one for every other test.

    Under pytest-xdist (``scripts/test`` runs the tests in several workers) the first worker
    that needs a stack checks it (and starts what is missing) while holding a lock; the
    others then read what it found, so a stack is never started twice at once."""
    from devstack.stack import Stack

    lone = xdist_group(request.node.nodeid) == "alone"
    local = Stack.from_env().lone() if lone else Stack.from_env()
    values = _running_stack(local, tmp_path_factory)
    # up() also points this process at the emulators (tests rely on it): so do the others.
    for key in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):
        os.environ[key] = values[key]
    if lone:  # and what the test runs (`scripts/dev mail`, Stack.from_env()) at its stack
        os.environ["ORDERHUB_DEV_DIR"] = str(local.state_dir)
        os.environ["ORDERHUB_DEV_PORT_BASE"] = str(local.base)
    return values


_stacks: dict[str, dict[str, str]] = {}  # a stack's state dir -> its endpoints, per process


def _running_stack(local: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import fcntl

    key = local.state_dir.name
    if key not in _stacks:
        if "PYTEST_XDIST_WORKER" not in os.environ:
            _stacks[key] = local.up()
        else:  # one file per pytest run and stack
            shared = tmp_path_factory.getbasetemp().parent / f"{key}.json"
            with open(shared.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not shared.exists():
                    shared.write_text(json.dumps(local.up()))
                _stacks[key] = json.loads(shared.read_text())
    return dict(_stacks[key])


@pytest.fixture
def emulators(stack: dict[str, str]) -> dict[str, str]:
    """Point the official clients at the emulators for this test, with fresh caches."""
    for key in ("GOOGLE_CLOUD_PROJECT", "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):
        os.environ[key] = stack[key]
    os.environ["BIGQUERY_EMULATOR_HOST"] = stack["BIGQUERY_EMULATOR_HOST"]
    # Required by every function that reads Shopify's orders (issue 19), as in the stack.
    os.environ["SHOPIFY_APP_IDS"] = stack["SHOPIFY_APP_IDS"]
    clear_caches()
    return dict(stack)


def clear_caches() -> None:
    """Forget cached clients and settings, so each test wires its own: the shared clients
    of ``orderhub.gcp`` and every function package's ``wiring`` module."""
    import importlib
    import importlib.util
    import pkgutil

    import orderhub
    from orderhub import gcp

    for cached in (gcp.publisher, gcp.batch_publisher, gcp.firestore_client, gcp.bigquery_client):
        cached.cache_clear()
    for info in pkgutil.iter_modules(orderhub.__path__):
        name = f"orderhub.{info.name}.wiring"
        if not info.ispkg or importlib.util.find_spec(name) is None:
            continue
        for value in vars(importlib.import_module(name)).values():
            if callable(value) and hasattr(value, "cache_clear"):
                value.cache_clear()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic(emulators: dict[str, str]) -> Iterator[Topic]:
    """A fresh Pub/Sub topic with a pull subscription, to see what was published."""
    t = Topic(emulators["GOOGLE_CLOUD_PROJECT"], unique("topic"))
    yield t
    t.delete()


class Topic:
    def __init__(self, project: str, name: str) -> None:
        from google.cloud import pubsub_v1

        self.project, self.name = project, name
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.path = self.publisher.topic_path(project, name)
        self.sub_path = self.subscriber.subscription_path(project, name + "-pull")
        self.publisher.create_topic(name=self.path)
        self.subscriber.create_subscription(name=self.sub_path, topic=self.path)

    def pull(self, *, expect: int, timeout: float = 5.0) -> list[Any]:
        """Messages published so far; waits until ``expect`` arrived (or the timeout)."""
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.subscriber.pull(subscription=self.sub_path, max_messages=100, timeout=2)
            if response.received_messages:
                self.subscriber.acknowledge(
                    subscription=self.sub_path,
                    ack_ids=[m.ack_id for m in response.received_messages],
                )
                got += [m.message for m in response.received_messages]
            if len(got) >= expect and expect > 0:
                break
            time.sleep(0.1)
        return got

    def delete(self) -> None:
        self.subscriber.delete_subscription(subscription=self.sub_path)
        self.publisher.delete_topic(topic=self.path)


@pytest.fixture
def crm(emulators: dict[str, str]) -> Crm:
    """A fresh BigQuery dataset with every table and view of schemas/."""
    from devstack import dataset

    client = dataset.bigquery_client(
        emulators["GOOGLE_CLOUD_PROJECT"], emulators["BIGQUERY_EMULATOR_HOST"]
    )
    name = unique("t").replace("-", "_")
    dataset.create_dataset(client, name)
    os.environ["BIGQUERY_DATASET"] = name
    return Crm(client, name)


class Crm:
    def __init__(self, client: Any, dataset: str) -> None:
        self.client, self.dataset = client, dataset

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Run SQL where ``{ds}`` stands for this dataset; named parameters as @name."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(k, "STRING", v) for k, v in params.items()
            ]
        )
        text = sql.replace("{ds}", f"`{self.client.project}.{self.dataset}`")
        return [dict(row) for row in self.client.query(text, job_config=config).result()]

    def wait_for(
        self,
        sql: str,
        until: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 15.0,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """Poll a query until ``until(rows)`` holds and return those rows; fail the test if
        it never does (a wait that times out silently would let absence checks pass on a
        dead pipeline)."""
        deadline = time.monotonic() + timeout
        rows = self.query(sql, **params)
        while not until(rows):
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:.0f}s for {sql!r}; last rows: {rows}")
            time.sleep(0.25)
            rows = self.query(sql, **params)
        return rows


def cloud_event(data: bytes, *, message_id: str | None = None) -> Any:
    """The CloudEvent that Eventarc delivers for a Pub/Sub message."""
    from cloudevents.http import CloudEvent

    message_id = message_id or uuid.uuid4().hex
    return CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": "//pubsub.googleapis.com/projects/test/topics/order-events",
            "id": message_id,
        },
        {
            "message": {"data": base64.b64encode(data).decode(), "messageId": message_id},
            "subscription": "projects/test/subscriptions/test",
        },
    )


def post_cloud_event(client: Any, event: Any) -> Any:
    """POST a CloudEvent to a functions-framework test client (structured mode)."""
    from cloudevents.conversion import to_structured

    headers, body = to_structured(event)
    return client.post("/", headers=headers, data=body)


@functools.cache
def password_digest(password: str) -> str:
    """``sessions.hash_password(password)``, made once per test process: the real scrypt
    parameters cost ~0.5 s of CPU a hash, and fixtures store the same few passwords for
    every test (what a sign-in verifies is unchanged)."""
    from orderhub.order_form import sessions

    return sessions.hash_password(password)


def load_json(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


# ------------------------------------------------------------- tests in parallel
STACK_2 = frozenset(
    {
        "tests/e2e/test_stack_shopify.py",
        "tests/e2e/test_webhook_replay_stack.py",
        "tests/e2e/test_crmapp_a11y_browser.py",
        "tests/e2e/test_crmapp_draft_browser.py",
        "tests/e2e/test_services_builder_browser.py",
    }
)
#: Modules (or single tests) of the ``stack-3`` group.
STACK_3 = frozenset(
    {
        "tests/e2e/test_crmapp_browser.py::test_a_manager_finds_an_order_by_phone_sees_its_life_and_orders_again",
        "tests/e2e/test_crmapp_browser.py::test_a_new_order_appears_in_the_open_list_without_a_reload",
        "tests/e2e/test_crmapp_browser.py::test_a_manager_marks_a_quarantined_mail_handled",
        "tests/e2e/test_duplicates_and_order.py",
        "tests/e2e/test_notifier_e2e.py",
        "tests/e2e/test_gmail_bad_mail.py",
        "tests/e2e/test_privacy_erasure.py",
        "tests/e2e/test_stack_lifecycle.py::test_up_again_keeps_the_running_processes",
        "tests/e2e/test_stack_lifecycle.py::test_endpoints_file_lists_what_a_newcomer_needs",
    }
)
#: Tests (or modules) that must have a stack to themselves, and why: they run one after
#: another, group ``alone``, on a second stack of their own (``Stack.lone``: its emulators,
#: functions and stand-ins), beside the other groups on the first.
ALONE = frozenset(
    {
        # The demo shop's inbound orders off: any other test's order webhook would be held.
        "tests/e2e/test_sync_journeys.py::test_e_held_orders_released_halfway_then_released_again_come_in_once",
        # A slow orderCreate: another test's order (synced while this test's sync is on)
        # would take the slow answer meant for this one.
        "tests/e2e/test_sync_journeys.py::test_d_timeout_plus_lagging_search_and_two_deliveries_make_one_shopify_order",
        # ManyChat answers 500 twice: another test's message to these managers would take one.
        "tests/e2e/test_notifier_e2e.py::test_500_twice_then_200_still_one_message_per_manager",
        # ManyChat "down" for a manager of the list: every other test's order would fail
        # for it too, and their retries slow the notifier's deliveries down for everyone.
        "tests/e2e/test_notifier_e2e.py::test_dead_lettered_notification_is_replayed_after_the_fix",
        # Reconciliation: its id check publishes a delete for every recent order of the
        # CRM that the Shopify stand-in does not hold, and the other groups' orders come
        # through the webhook only (an order taken over this way lost its customer link).
        "tests/e2e/test_announce_once_stack.py",
        "tests/e2e/test_reconcile_stack.py",
        "tests/e2e/test_reconcile_truths_stack.py",
        "tests/e2e/test_sync_journeys.py::test_a_email_order_echo_reconcile_refund_and_cancel_stay_one_crm_order",
        "tests/e2e/test_sync_journeys.py::test_b_form_order_with_a_chat_contact_keeps_it_through_echo_reconcile_and_backfill",
        "tests/e2e/test_sync_journeys.py::test_c_storefront_order_with_forged_attributes_does_not_take_over_a_crm_order",
    }
)


def is_alone(nodeid: str) -> bool:
    """A test of ``ALONE`` (by its id or its module's)."""
    return nodeid in ALONE or nodeid.split("::")[0] in ALONE


def xdist_group(nodeid: str) -> str | None:
    """The group a test runs in under pytest-xdist: the tests of a group run on one worker,
    one after another, in file order; a test of no group (None) runs on any worker.

    The end-to-end tests share the running stack. The rule: a test that changes a piece of
    the stack's shared state is in one group with every test that reads or counts it. That
    state: the demo shop's sync switches (``sync_on``, ``customers_on``, ``products_on``,
    the settings page; while the orders sync is on, a form or e-mail order gets Shopify's
    echo too, so tests that count an order's events read it), the Shopify stand-in's
    faults and its counts of all writes (customerSet, productSet, stock), the shop's
    catalogue, and the shop's orders that reconciliation and backfill read (and their
    cursor). The managers list is shared by addition: ``stack_managers`` adds two fresh
    managers and takes them out again, and every manager hears of every order, so tests
    count only the messages, and the ``notifications`` rows, of their own orders and
    managers.

    * ``stack``: the tests that change or read that shared state.
    * ``stack-2``, ``stack-3``: tests that only add records of their own (fresh ids, a
      mailbox, managers of their own) and assert only about those, through the webhook
      (Shopify's own orders are never synced back), e-mail and the app's pages: nothing
      the ``stack`` group changes disturbs them, and they change nothing it reads or
      counts.
    * ``alone``: the few tests (``ALONE``) that no other test of the shared stack may run
      beside (the demo shop's inbound orders off, a Shopify fault, a ManyChat answer
      scripted for the next message, reconciliation's id check): they run on a second
      stack, theirs alone (``Stack.lone``, started when the first of them needs it), so
      they neither wait for the other groups nor hold them up.
    * ``dev-terminal``: each case starts a whole ``scripts/dev`` stack of its own (ports
      from base + 50): one at a time, beside the shared stack's tests.

    The groups run side by side, each on its own worker. Unit and integration tests name
    their own topics, datasets, collections, mailboxes and subscribers, so they run beside
    those groups, on the other workers.
    """
    if nodeid.startswith("tests/e2e/test_stack_lifecycle.py::test_every_way_of_ending_"):
        return "dev-terminal"
    if is_alone(nodeid):
        return "alone"
    module = nodeid.split("::")[0]
    if module in STACK_2:
        return "stack-2"
    if module in STACK_3 or "::".join(nodeid.split("::")[:2]) in STACK_3:
        return "stack-3"
    if nodeid.startswith("tests/e2e/"):
        return "stack"
    return None


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` (as ``scripts/test`` runs) with the groups of ``xdist_group``.

    The groups are told by node id here, in the controller: pytest-xdist 3.8's own
    ``xdist_group`` marks are silently lost on pytest 9.2 (pytest-dev/pytest-xdist#1386)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Groups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid) or super()._split_scope(nodeid)

    return Groups(config, log)


# ------------------------------------------------------------- where the time goes
_busy: dict[str, list[float]] = {}  # worker -> [busy seconds, tests]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Under pytest-xdist, the controller adds up each worker's busy time (setup, call and
    teardown of its tests): the busiest worker is the run's critical path."""
    node = getattr(report, "node", None)
    if node is None:
        return
    busy = _busy.setdefault(str(node.gateway.id), [0.0, 0])
    busy[0] += report.duration
    busy[1] += report.when == "call"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _busy:
        terminalreporter.write_sep("-", "busy time per worker (the largest is the critical path)")
        for worker, (seconds, tests) in sorted(_busy.items()):
            terminalreporter.write_line(f"{worker}: {seconds:6.1f} s, {tests} tests")
