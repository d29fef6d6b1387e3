"""A manager whose Messenger window has closed hears of a new order on the phone she
subscribed in the CRM app: Web Push (issue 22 item 8). The notifier through
functions-framework, on the emulators, the ManyChat stand-in (answering 3011) and the Web
Push stand-in, which checks the VAPID JWT (RFC 8292) and the aes128gcm body (RFC 8291/8188)
as a push service does and decrypts it as the phone would; pywebpush does the real work.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from orderhub.event import encode
from tests.conftest import Crm, clear_caches, cloud_event, post_cloud_event, unique
from tests.integration.test_notifier import order
from tests.manychat import StandIn, new_subscriber_id


@pytest.fixture
def push_service() -> Iterator[Any]:
    from devstack.standins.webpush import PushStandIn

    standin = PushStandIn().start()
    yield standin
    standin.stop()


def _notifier(emulators: dict[str, str], managers: list[dict[str, str]]) -> tuple[Any, str, str]:
    from functions_framework import create_app

    from orderhub.push import new_vapid_keys

    private, public = new_vapid_keys()
    prefix = unique("wp") + "-"
    os.environ.update(
        FIRESTORE_PREFIX=prefix,
        MANYCHAT_API_URL=emulators["MANYCHAT_API_URL"],
        MANYCHAT_TOKEN=emulators["MANYCHAT_TOKEN"],
        NOTIFY_MANAGERS=json.dumps(managers),
        VAPID_PRIVATE_KEY=private,
        VAPID_SUBJECT="mailto:owner@shop.example",
    )
    os.environ.pop("NOTIFY_FALLBACK_FROM", None)
    clear_caches()
    client = create_app(
        target="notifier", source="functions/main.py", signature_type="cloudevent"
    ).test_client()
    return client, public, prefix


def _subscriptions(emulators: dict[str, str], prefix: str) -> Any:
    from google.cloud import firestore

    from orderhub.push import COLLECTION, FirestoreSubscriptions

    client = firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"])
    return FirestoreSubscriptions(client, prefix + COLLECTION)


def test_a_closed_window_is_bridged_by_web_push_once(
    emulators: dict[str, str], crm: Crm, push_service: Any
) -> None:
    from orderhub.push import read_subscription

    closed, open_ = new_subscriber_id(), new_subscriber_id()
    client, public, prefix = _notifier(
        emulators,
        [{"subscriber_id": closed, "name": "Closed"}, {"subscriber_id": open_, "name": "Open"}],
    )
    phone = push_service.subscribe(public)  # what pushManager.subscribe gives the page
    store = _subscriptions(emulators, prefix)
    store.save(
        read_subscription(phone), subscriber_id=closed, manager="anna", now=datetime.now(UTC)
    )
    manychat = StandIn(emulators["MANYCHAT_API_URL"])
    manychat.script(closed, "3011", times=5)
    event = order()

    assert post_cloud_event(client, cloud_event(encode(event))).status_code == 200
    assert post_cloud_event(client, cloud_event(encode(event))).status_code == 200  # again

    got = requests.get(f"{push_service.url}/_standin/received", timeout=5).json()
    assert len(got) == 1  # once, however often the event comes
    alert = json.loads(got[0]["payload"])  # decrypted with the phone's keys
    assert alert["title"].startswith("🛒 New order") and "42.00 EUR" in alert["body"]
    assert got[0]["claims"]["sub"] == "mailto:owner@shop.example"
    assert got[0]["claims"]["aud"] == push_service.url
    assert got[0]["ttl"] > 0
    assert len(manychat.delivered(open_)) == 1
    rows = crm.query(
        "SELECT manager_id, status, manychat_code FROM {ds}.notifications WHERE event_id = @e",
        e=event["event_id"],
    )
    assert sorted((r["manager_id"], r["status"]) for r in rows) == sorted(
        [(closed, "pushed"), (open_, "sent")]
    )


def test_a_phone_that_unsubscribed_is_forgotten_and_the_manager_is_not_told_twice(
    emulators: dict[str, str], crm: Crm, push_service: Any
) -> None:
    from orderhub.push import read_subscription

    closed = new_subscriber_id()
    client, public, prefix = _notifier(emulators, [{"subscriber_id": closed, "name": "Closed"}])
    gone, kept = push_service.subscribe(public), push_service.subscribe(public)
    store = _subscriptions(emulators, prefix)
    at = datetime.now(UTC)
    for phone in (gone, kept):
        store.save(read_subscription(phone), subscriber_id=closed, manager="anna", now=at)
    push_service.unsubscribe(gone["endpoint"])  # the push service now answers 410
    StandIn(emulators["MANYCHAT_API_URL"]).script(closed, "3011", times=5)
    event = order()

    assert post_cloud_event(client, cloud_event(encode(event))).status_code == 200
    got = requests.get(f"{push_service.url}/_standin/received", timeout=5).json()
    assert [r["endpoint"] for r in got] == [kept["endpoint"]]
    assert [s.endpoint for s in store.for_subscriber(closed)] == [kept["endpoint"]]
    rows = crm.query(
        "SELECT status FROM {ds}.notifications WHERE event_id = @e", e=event["event_id"]
    )
    assert [r["status"] for r in rows] == ["pushed"]


def test_without_a_subscription_a_closed_window_stays_failed(
    emulators: dict[str, str], crm: Crm, push_service: Any
) -> None:
    closed = new_subscriber_id()
    client, _public, _prefix = _notifier(emulators, [{"subscriber_id": closed, "name": "C"}])
    StandIn(emulators["MANYCHAT_API_URL"]).script(closed, "3011", times=5)
    event = order()
    assert post_cloud_event(client, cloud_event(encode(event))).status_code == 200
    rows = crm.query(
        "SELECT status, manychat_code FROM {ds}.notifications WHERE event_id = @e",
        e=event["event_id"],
    )
    assert [(r["status"], r["manychat_code"]) for r in rows] == [("failed", 3011)]
    assert requests.get(f"{push_service.url}/_standin/received", timeout=5).json() == []
