"""Group commit on the emulators: FirestoreClaims and BatchedPublishOnce under concurrency.

Concurrent calls of one instance share RPCs (``BatchWrite`` for claims, then one
``Publish`` for the winners' events); these tests check that sharing changes nothing about
who wins or what is published, that it does happen, and what an outage does.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore

from orderhub import gcp
from orderhub.bus import BatchedPublishOnce, PubSubBatchPublisher
from orderhub.errors import TransientError
from orderhub.event import Event, decode, make_event
from orderhub.stores import FirestoreClaims
from tests.conftest import Topic, unique
from tests.faults import Outage

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(emulators: dict[str, str]) -> Any:
    return firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])


def race(claims: FirestoreClaims, keys: list[str], threads: int = 16) -> list[bool]:
    """Claim every key at once from ``threads`` threads, released together by a barrier."""
    start = threading.Barrier(min(threads, len(keys)))

    def one(key: str) -> bool:
        try:
            start.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass  # fewer callers left than the barrier's size: go anyway
        return claims.claim(key, {"topic": "orders/create"}, now=NOW)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, keys))


def stored(db: Any, collection: str) -> dict[str, dict[str, Any]]:
    return {doc.id: doc.to_dict() for doc in db.collection(collection).stream()}


def test_concurrent_claims_of_fresh_keys_all_win_and_share_rpcs(db: Any) -> None:
    collection = unique("claims")
    claims = FirestoreClaims(db, collection, timedelta(days=3))
    keys = [f"shopify:shop:{i}" for i in range(160)]

    won = race(claims, keys)

    assert won == [True] * len(keys)
    docs = stored(db, collection)
    assert sorted(docs) == sorted(keys)
    assert docs[keys[0]]["expires_at"] == NOW + timedelta(days=3)
    assert len({d["token"] for d in docs.values()}) == len(keys)  # one token per claim
    batches = claims.batch_sizes
    assert sum(size * n for size, n in batches.items()) == len(keys)
    assert max(batches) > 1, f"no batch held more than one claim: {batches}"
    assert sum(batches.values()) < len(keys)


def test_one_key_claimed_by_sixteen_threads_at_once_has_one_winner(db: Any) -> None:
    collection = unique("claims")
    claims = FirestoreClaims(db, collection, timedelta(days=3))

    won = race(claims, ["shopify:shop:same"] * 16)

    assert Counter(won) == {True: 1, False: 15}
    assert list(stored(db, collection)) == ["shopify:shop:same"]


def test_two_instances_racing_on_mixed_keys_win_each_key_once(db: Any) -> None:
    collection = unique("claims")
    a = FirestoreClaims(db, collection, timedelta(days=3))
    b = FirestoreClaims(db, collection, timedelta(days=3))
    keys = [f"k{i % 20}" for i in range(80)]  # every key four times

    results: dict[str, list[bool]] = {}
    runs: list[Callable[[], None]] = [
        lambda: results.__setitem__("a", race(a, keys, threads=8)),
        lambda: results.__setitem__("b", race(b, keys[::-1], threads=8)),
    ]
    threads = [threading.Thread(target=run) for run in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    winners = Counter(k for k, w in zip(keys, results["a"], strict=True) if w)
    winners += Counter(k for k, w in zip(keys[::-1], results["b"], strict=True) if w)
    assert winners == dict.fromkeys(sorted(set(keys)), 1)
    assert sorted(stored(db, collection)) == sorted(set(keys))


def test_released_claim_can_be_claimed_again(db: Any) -> None:
    claims = FirestoreClaims(db, unique("claims"), timedelta(days=3))
    assert claims.claim("k", {}, now=NOW) is True
    assert claims.claim("k", {}, now=NOW) is False
    claims.release("k")
    assert claims.claim("k", {}, now=NOW) is True


def test_unreachable_firestore_fails_every_waiting_claim_within_the_deadline(
    emulators: dict[str, str],
) -> None:
    outage = Outage(emulators["FIRESTORE_EMULATOR_HOST"])
    try:
        os.environ["FIRESTORE_EMULATOR_HOST"] = outage.address
        client = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])
        claims = FirestoreClaims(client, unique("claims"), timedelta(days=3))
        assert claims.claim("warm", {}, now=NOW) is True
        outage.cut()

        def attempt(key: str) -> tuple[str, float]:
            started = datetime.now(UTC)
            try:
                claims.claim(key, {}, now=NOW)
                outcome = "won"
            except TransientError:
                outcome = "transient"
            return outcome, (datetime.now(UTC) - started).total_seconds()

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(attempt, [f"k{i}" for i in range(8)]))

        assert [o for o, _ in outcomes] == ["transient"] * 8
        assert max(s for _, s in outcomes) < 3.0  # CLAIM_DEADLINE_S is 2 s, plus slack
        outage.restore()
        assert claims.claim("after", {}, now=NOW) is True
    finally:
        outage.close()


def order_event(order_id: str) -> Event:
    return make_event(
        event_type="order.created",
        source="shopify",
        shop="int-shop.myshopify.com",
        occurred_at=NOW,
        version=1,
        entity_id=order_id,
        entity={"order_id": order_id},
    )


def batched_once(db: Any, topic: Topic, collection: str) -> BatchedPublishOnce:
    claims = FirestoreClaims(db, collection, timedelta(days=3))
    bus = PubSubBatchPublisher(gcp.batch_publisher(), topic.path)
    return BatchedPublishOnce(claims, bus, deadline_s=4.0)


def test_concurrent_deliveries_publish_each_event_once(db: Any, topic: Topic) -> None:
    collection = unique("once")
    once = batched_once(db, topic, collection)
    deliveries = [f"wh-{i % 16}" for i in range(48)]  # every delivery three times
    start = threading.Barrier(16)

    def deliver(webhook_id: str) -> bool:
        start.wait(timeout=10)
        event = order_event(webhook_id.removeprefix("wh-"))
        return once(event, key=f"shopify:s:{webhook_id}", record={"topic": "t"}, at=NOW)

    with ThreadPoolExecutor(16) as pool:
        first = list(pool.map(deliver, deliveries))

    assert Counter(w for w, won in zip(deliveries, first, strict=True) if won) == dict.fromkeys(
        sorted(set(deliveries)), 1
    )
    messages = topic.pull(expect=17, timeout=3)  # one more than expected: none may come
    assert sorted(decode(m.data)["entity_id"] for m in messages) == sorted(
        str(i) for i in range(16)
    )
    assert {m.attributes["event_type"] for m in messages} == {"order.created"}
    assert max(once.batch_sizes) > 1
    assert len(stored(db, collection)) == 16


def test_pubsub_outage_fails_the_batch_and_releases_its_claims(
    db: Any, emulators: dict[str, str], topic: Topic
) -> None:
    outage = Outage(emulators["PUBSUB_EMULATOR_HOST"])
    try:
        os.environ["PUBSUB_EMULATOR_HOST"] = outage.address
        gcp.batch_publisher.cache_clear()
        collection = unique("once")
        once = batched_once(db, topic, collection)
        assert once(order_event("warm"), key="k-warm", record={}, at=NOW) is True
        outage.cut()

        def deliver(i: int) -> str:
            try:
                once(order_event(str(i)), key=f"k-{i}", record={}, at=NOW)
                return "accepted"
            except TransientError:
                return "retry later"

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(deliver, range(8))) == ["retry later"] * 8
        assert outage.refused >= 1
        assert list(stored(db, collection)) == ["k-warm"]  # the failed claims were released

        outage.restore()
        with ThreadPoolExecutor(8) as pool:  # Shopify's retries
            assert list(pool.map(deliver, range(8))) == ["accepted"] * 8
        published = sorted(decode(m.data)["entity_id"] for m in topic.pull(expect=10, timeout=3))
        assert published == sorted(["warm", *(str(i) for i in range(8))])
    finally:
        outage.close()
