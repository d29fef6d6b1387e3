"""notifier through functions-framework's test client, on the emulators and the
ManyChat stand-in: claims in Firestore, rows in BigQuery, calls at the stand-in."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderhub.event import encode, make_event
from orderhub.notifier.notify import announcement_id
from tests.conftest import Crm, clear_caches, cloud_event, post_cloud_event, unique
from tests.manychat import StandIn, new_subscriber_id

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Env:
    def __init__(self, client: Any, crm: Crm, standin: StandIn, managers: list[str]) -> None:
        self.client, self.crm, self.standin, self.managers = client, crm, standin, managers

    def post(self, event: dict[str, Any]) -> int:
        return int(post_cloud_event(self.client, cloud_event(encode(event))).status_code)

    def rows(self, event_id: str) -> list[dict[str, Any]]:
        return self.crm.query(
            "SELECT manager_id, manager_name, status, attempt, manychat_code, order_id "
            "FROM {ds}.notifications WHERE event_id = @e ORDER BY attempted_at",
            e=event_id,
        )

    def statuses(self, event_id: str, manager: str) -> list[str]:
        return [r["status"] for r in self.rows(event_id) if r["manager_id"] == manager]


@pytest.fixture
def notifier(emulators: dict[str, str], crm: Crm) -> Iterator[Env]:
    from functions_framework import create_app

    managers = [new_subscriber_id(), new_subscriber_id()]
    os.environ.update(
        FIRESTORE_PREFIX=unique("it") + "-",
        MANYCHAT_API_URL=emulators["MANYCHAT_API_URL"],
        MANYCHAT_TOKEN=emulators["MANYCHAT_TOKEN"],
        NOTIFY_MANAGERS=json.dumps(
            [{"subscriber_id": m, "name": f"Manager {i}"} for i, m in enumerate(managers)]
        ),
        NOTIFY_LEASE_SECONDS="30",
    )
    clear_caches()
    app = create_app(target="notifier", source="functions/main.py", signature_type="cloudevent")
    yield Env(app.test_client(), crm, StandIn(emulators["MANYCHAT_API_URL"]), managers)


def order(event_type: str = "order.created", source: str = "shopify") -> dict[str, Any]:
    order_id = str(uuid_int())
    entity = {
        "order_id": order_id,
        "name": f"#{order_id[-4:]}",
        "currency": "EUR",
        "total": {"amount": "42.00", "currency": "EUR"},
        "customer": {"name": "Test Customer", "phone": "+49 30 000000"},
        "line_items": [
            {"title": "Mug", "quantity": 2, "unit_price": {"amount": "21", "currency": "EUR"}}
        ],
        "shipping_address": {"address1": "Hauptstr. 1", "city": "Berlin", "zip": "10115"},
        "note": "ring twice",
    }
    return dict(
        make_event(
            event_type=event_type,
            source=source,
            shop="it.myshopify.com",
            occurred_at=AT,
            version=1,
            entity_id=order_id,
            entity=entity,
        )
    )


def uuid_int() -> int:
    import uuid

    return uuid.uuid4().int % 10**12


def test_new_order_reaches_each_manager_once_and_is_recorded(notifier: Env):
    event = order()
    assert notifier.post(event) == 200
    for manager in notifier.managers:
        calls = notifier.standin.delivered(manager)
        assert len(calls) == 1
        text = calls[0]["body"]["data"]["content"]["messages"][0]["text"]
        assert "Test Customer" in text and "42.00 EUR" in text and "Berlin" in text
        assert "message_tag" not in calls[0]["body"]  # no tag for manager alerts
    rows = notifier.rows(event["event_id"])
    assert sorted((r["manager_id"], r["status"]) for r in rows) == sorted(
        (m, "sent") for m in notifier.managers
    )
    assert {r["order_id"] for r in rows} == {event["entity_id"]}
    assert {r["manager_name"] for r in rows} == {"Manager 0", "Manager 1"}

    assert notifier.post(event) == 200  # Pub/Sub redelivers
    assert all(len(notifier.standin.calls(m)) == 1 for m in notifier.managers)
    assert len(notifier.rows(event["event_id"])) == 2


def test_500_twice_then_200_still_one_message_per_manager(notifier: Env):
    flaky, steady = notifier.managers
    notifier.standin.script(flaky, "500", times=2)
    event = order()
    assert notifier.post(event) == 500  # raised: Pub/Sub will redeliver
    assert notifier.post(event) == 500
    assert notifier.post(event) == 200
    assert len(notifier.standin.delivered(flaky)) == 1
    assert len(notifier.standin.calls(flaky)) == 3
    assert len(notifier.standin.calls(steady)) == 1  # never bothered again
    assert notifier.statuses(event["event_id"], flaky) == ["retrying", "retrying", "sent"]
    assert notifier.statuses(event["event_id"], steady) == ["sent"]


def test_429_is_retried_like_a_5xx(notifier: Env):
    limited = notifier.managers[0]
    notifier.standin.script(limited, "429", times=1)
    event = order()
    assert notifier.post(event) == 500
    assert notifier.post(event) == 200
    assert notifier.statuses(event["event_id"], limited) == ["retrying", "sent"]


def test_3011_is_recorded_as_failed_and_not_retried(notifier: Env):
    closed, open_ = notifier.managers
    notifier.standin.script(closed, "3011", times=5)
    event = order()
    assert notifier.post(event) == 200  # acknowledged: retrying cannot help
    assert notifier.post(event) == 200  # a redelivery does not try again
    assert len(notifier.standin.calls(closed)) == 1
    failed = [r for r in notifier.rows(event["event_id"]) if r["manager_id"] == closed]
    assert [(r["status"], r["manychat_code"]) for r in failed] == [("failed", 3011)]
    assert notifier.statuses(event["event_id"], open_) == ["sent"]


def test_two_instances_racing_send_once(notifier: Env, stack: dict[str, str]):
    from functions_framework import create_app

    other = create_app(
        target="notifier", source="functions/main.py", signature_type="cloudevent"
    ).test_client()
    event = order()
    statuses: list[int] = []

    def deliver(client: Any) -> None:
        statuses.append(post_cloud_event(client, cloud_event(encode(event))).status_code)

    threads = [threading.Thread(target=deliver, args=(c,)) for c in (notifier.client, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each manager was claimed by exactly one of them; a loser answers 500 (busy) only
    # while the other may still be sending, and Pub/Sub redelivers to it.
    assert len(statuses) == 2
    assert all(len(notifier.standin.calls(m)) == 1 for m in notifier.managers)
    assert notifier.post(event) == 200  # the redelivery finds every claim final
    assert all(len(notifier.standin.calls(m)) == 1 for m in notifier.managers)


def test_claim_left_sending_by_a_dead_instance_is_resent_after_the_lease(notifier: Env):
    from google.cloud import firestore

    event = order()
    stuck = notifier.managers[0]
    claims = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"]).collection(
        os.environ["FIRESTORE_PREFIX"] + "notification_claims"
    )
    doc = claims.document(f"{announcement_id(event)}:{stuck}")
    doc.set({"state": "sending", "attempt": 1, "started_at": datetime.now(UTC)})
    assert notifier.post(event) == 500  # still leased to the "other" instance
    assert notifier.standin.calls(stuck) == []
    doc.update({"started_at": datetime.now(UTC) - timedelta(minutes=5)})  # lease ran out
    assert notifier.post(event) == 200
    assert len(notifier.standin.delivered(stuck)) == 1
    assert doc.get().to_dict()["state"] == "sent"


def test_quarantined_payload_alerts_the_managers(notifier: Env):
    raw_id = unique("raw")
    event = dict(
        make_event(
            event_type="payload.quarantined",
            source="email:dpd",
            shop="",
            occurred_at=AT,
            version=1,
            entity_id=raw_id,
            entity={"reason": "no order number found", "kind": "email", "topic": None, "ref": "m1"},
        )
    )
    assert notifier.post(event) == 200
    for manager in notifier.managers:
        text = notifier.standin.delivered(manager)[0]["body"]["data"]["content"]["messages"][0]
        assert "no order number found" in text["text"] and raw_id in text["text"]


def test_updates_are_not_notified(notifier: Env):
    event = order("order.updated")
    assert notifier.post(event) == 200
    assert all(notifier.standin.calls(m) == [] for m in notifier.managers)
    assert notifier.rows(event["event_id"]) == []


def test_managers_in_firestore_win_over_the_environment(notifier: Env):
    from google.cloud import firestore

    only = new_subscriber_id()
    settings = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"]).collection(
        os.environ["FIRESTORE_PREFIX"] + "settings"
    )
    settings.document("managers").set({"managers": [{"subscriber_id": only, "name": "Solo"}]})
    event = order(source="manual")
    assert notifier.post(event) == 200
    assert len(notifier.standin.delivered(only)) == 1
    assert all(notifier.standin.calls(m) == [] for m in notifier.managers)


def test_wrong_token_is_retried_not_recorded_as_sent(notifier: Env):
    os.environ["MANYCHAT_TOKEN"] = "not-the-token"
    clear_caches()
    event = order()
    assert notifier.post(event) == 500
    assert all(notifier.standin.delivered(m) == [] for m in notifier.managers)
    assert {r["status"] for r in notifier.rows(event["event_id"])} == {"retrying"}
