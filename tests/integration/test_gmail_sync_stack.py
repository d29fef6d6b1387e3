"""The Gmail sync's guarantees through gmail_ingest (functions-framework), the real
google-api-python-client against the Gmail stand-in, and the Pub/Sub and Firestore
emulators: a 30 MB mail, a backlog over several runs, mail moved out of Spam."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.standins import gmail as standin
from tests.conftest import Topic, cloud_event, post_cloud_event, unique
from tests.gmailfakes import kiire, newsletter
from tests.unit.test_gmail_sync_correctness import huge


@pytest.fixture
def push(emulators: dict[str, str]) -> Iterator[Topic]:
    """The topic Gmail (and a run that stopped at its limit) notifies on."""
    t = Topic(emulators["GOOGLE_CLOUD_PROJECT"], unique("gmail-push"))
    yield t
    t.delete()


@pytest.fixture
def mailbox(emulators: dict[str, str], topic: Any, push: Topic) -> str:
    os.environ["ORDER_EVENTS_TOPIC"] = topic.name
    os.environ["FIRESTORE_PREFIX"] = unique("t") + "_"
    os.environ["GMAIL_API_URL"] = emulators["GMAIL_API_URL"]
    os.environ["GMAIL_PUSH_TOPIC"] = push.name
    os.environ.pop("GMAIL_REFRESH_TOKEN", None)
    return f"{unique('owner')}@shop.example"


def ingest() -> Any:
    from functions_framework import create_app

    from tests.conftest import ROOT

    return create_app(
        target="gmail_ingest",
        source=str(ROOT / "functions" / "main.py"),
        signature_type="cloudevent",
    ).test_client()


def notify(client: Any, data: dict[str, Any]) -> None:
    response = post_cloud_event(client, cloud_event(json.dumps(data).encode()))
    assert response.status_code == 200, response.get_data(as_text=True)


def events(topic: Topic, expect: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    return [json.loads(m.data) for m in topic.pull(expect=expect, timeout=timeout)]


def orders(got: list[dict[str, Any]]) -> list[str]:
    return [e["entity_id"] for e in got if e["event_type"] == "order.created"]


def mailbox_doc(stack: dict[str, str], mailbox: str) -> Any:
    from google.cloud import firestore

    client = firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"])
    return client.collection(f"{os.environ['FIRESTORE_PREFIX']}gmail_mailboxes").document(mailbox)


def test_a_30_mb_mail_then_an_order_mail_gives_the_order_and_records_the_big_one(
    stack, mailbox, topic
):
    client = ingest()
    notify(client, {"emailAddress": mailbox})  # first contact: the checkpoint is set
    api = stack["GMAIL_API_URL"]
    big = standin.deliver(api, mailbox, huge(kiire("HUGE1")))
    last = standin.deliver(api, mailbox, kiire("AFTER1"))

    notify(client, {"emailAddress": mailbox, "historyId": int(last["historyId"])})

    got = events(topic, expect=2)
    assert orders(got) == ["K-AFTER1"]
    [kept] = [e for e in got if e["event_type"] == "payload.quarantined"]
    assert kept["entity"]["ref"] == big["id"]
    assert "over the" in kept["entity"]["reason"]
    assert "body" not in kept["raw"]
    assert mailbox_doc(stack, mailbox).get().to_dict()["history_id"] == int(last["historyId"])


def test_a_backlog_after_a_404_drains_over_several_runs_each_order_once(
    stack, mailbox, topic, push
):
    os.environ["GMAIL_MAX_MESSAGES_PER_RUN"] = "6"
    os.environ["GMAIL_PAGE_SIZE"] = "4"
    client = ingest()
    api = stack["GMAIL_API_URL"]
    notify(client, {"emailAddress": mailbox})
    doc = mailbox_doc(stack, mailbox)
    doc.set({"synced_at": datetime.now(UTC) - timedelta(days=6)}, merge=True)  # down 6 days
    four_days_ago = int((datetime.now(UTC) - timedelta(days=4)).timestamp() * 1000)
    for n in range(9):
        standin.deliver(api, mailbox, kiire(f"BL{n}"), internal_date=four_days_ago + n)
        standin.deliver(api, mailbox, newsletter(n), internal_date=four_days_ago + n)
    standin.forget_history(api, mailbox)
    last = standin.deliver(api, mailbox, kiire("BL9"))

    notify(client, {"emailAddress": mailbox, "historyId": int(last["historyId"])})
    runs = 1
    while True:
        follow_ups = [json.loads(m.data) for m in push.pull(expect=1, timeout=2)]
        if not follow_ups:
            break
        assert follow_ups == [{"emailAddress": mailbox}]
        assert doc.get().to_dict()["full_sync"]["done"] == 6 * runs
        notify(client, follow_ups[0])
        runs += 1

    assert runs == 4  # 19 mails, 6 a run
    got = orders(events(topic, expect=10))
    assert sorted(got) == [f"K-BL{n}" for n in range(10)]
    stored = doc.get().to_dict()
    assert "full_sync" not in stored
    assert stored["history_id"] >= int(last["historyId"])
    assert list(doc.collection("full_sync").stream()) == []  # the stored list is gone


def test_mail_moved_from_spam_into_inbox_is_read(stack, mailbox, topic):
    client = ingest()
    api = stack["GMAIL_API_URL"]
    notify(client, {"emailAddress": mailbox})
    spam = standin.deliver(api, mailbox, kiire("SPAM1"), labels=["SPAM"])
    notify(client, {"emailAddress": mailbox, "historyId": int(spam["historyId"])})
    assert events(topic, expect=1, timeout=2) == []

    moved = standin.modify(api, mailbox, spam["id"], ["INBOX"], ["SPAM"])
    notify(client, {"emailAddress": mailbox, "historyId": int(moved["historyId"])})

    assert orders(events(topic, expect=1)) == ["K-SPAM1"]


def test_mail_a_filter_files_under_a_label_is_read(stack, mailbox, topic):
    client = ingest()
    notify(client, {"emailAddress": mailbox})
    filed = standin.deliver(stack["GMAIL_API_URL"], mailbox, kiire("FILED1"), labels=["Label_3"])

    notify(client, {"emailAddress": mailbox, "historyId": int(filed["historyId"])})

    assert orders(events(topic, expect=1)) == ["K-FILED1"]


def test_the_stand_in_answers_metadata_and_label_history_as_gmail_documents(stack, mailbox):
    """What the sync relies on, through the real client: ``format=metadata`` with only the
    requested headers and ``sizeEstimate``; ``minimal``; ``labelAdded`` history records
    with the labels added; ``getProfile``; ``after:`` in ``messages.list``, Spam left out."""
    from orderhub.gmail_ingest import wiring as gmail_ingest

    api = stack["GMAIL_API_URL"]
    users = gmail_ingest.gmail_service().users()
    start = int(users.getProfile(userId=mailbox).execute()["historyId"])
    raw = kiire("SHAPE1")
    spam = standin.deliver(api, mailbox, raw, labels=["SPAM"])
    standin.modify(api, mailbox, spam["id"], ["INBOX"], ["SPAM"])
    standin.deliver(api, mailbox, newsletter(1), labels=["SPAM"])

    meta = (
        users.messages()
        .get(userId=mailbox, id=spam["id"], format="metadata", metadataHeaders=["From", "Subject"])
        .execute()
    )
    minimal = users.messages().get(userId=mailbox, id=spam["id"], format="minimal").execute()
    history = (
        users.history()
        .list(userId=mailbox, startHistoryId=str(start), historyTypes=["labelAdded"])
        .execute()
    )
    since = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    listed = users.messages().list(userId=mailbox, q=f"after:{since}").execute()

    assert meta["sizeEstimate"] == len(raw)
    assert [h["name"] for h in meta["payload"]["headers"]] == ["From", "Subject"]
    assert "payload" not in minimal and minimal["sizeEstimate"] == len(raw)
    [record] = history["history"]
    assert record["labelsAdded"][0]["labelIds"] == ["INBOX"]
    assert record["labelsAdded"][0]["message"]["id"] == spam["id"]
    assert "messagesAdded" not in record
    assert [m["id"] for m in listed["messages"]] == [spam["id"]]  # the one still in Spam is not


def test_a_mailbox_held_by_another_run_refuses_the_notification_for_a_retry(stack, mailbox, topic):
    from google.cloud import firestore

    from orderhub.gmail_ingest.stores import FirestoreCheckpoints

    client = ingest()
    notify(client, {"emailAddress": mailbox})
    checkpoints = FirestoreCheckpoints(
        firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"]),
        f"{os.environ['FIRESTORE_PREFIX']}gmail_mailboxes",
    )
    assert checkpoints.lock(mailbox, "other-run", now=datetime.now(UTC), lease=timedelta(minutes=3))
    mail = standin.deliver(stack["GMAIL_API_URL"], mailbox, kiire("HELD1"))
    data = json.dumps({"emailAddress": mailbox, "historyId": int(mail["historyId"])}).encode()

    refused = post_cloud_event(client, cloud_event(data))
    assert refused.status_code >= 500  # not acknowledged: Pub/Sub redelivers it
    assert events(topic, expect=1, timeout=1) == []

    checkpoints.unlock(mailbox, "other-run")
    notify(client, {"emailAddress": mailbox, "historyId": int(mail["historyId"])})
    assert orders(events(topic, expect=1)) == ["K-HELD1"]
