"""gmail_ingest and gmail_watch_renew through functions-framework, against the Pub/Sub and
Firestore emulators and the Gmail stand-in, driven by the real google-api-python-client.

Each test has its own mailbox address (the stand-in keeps one mailbox per address), its
own Firestore prefix and its own order-events topic.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jsonschema
import pytest

from devstack.standins import gmail as standin
from tests.conftest import FIXTURES, ROOT, cloud_event, post_cloud_event, unique

SCHEMA = json.loads((ROOT / "schemas" / "event.v1.json").read_text())
MAILS = FIXTURES / "email"


@pytest.fixture
def mailbox(emulators: dict[str, str], topic: Any) -> str:
    os.environ["ORDER_EVENTS_TOPIC"] = topic.name
    os.environ["FIRESTORE_PREFIX"] = unique("t") + "_"
    os.environ["GMAIL_API_URL"] = emulators["GMAIL_API_URL"]
    os.environ.pop("GMAIL_REFRESH_TOKEN", None)
    return f"{unique('owner')}@shop.example"


def app(target: str, signature: str) -> Any:
    from functions_framework import create_app

    return create_app(
        target=target, source=str(ROOT / "functions" / "main.py"), signature_type=signature
    ).test_client()


def deliver(stack: dict[str, str], mailbox: str, name: str) -> dict[str, Any]:
    return standin.deliver(stack["GMAIL_API_URL"], mailbox, (MAILS / name).read_bytes())


def notify(client: Any, mailbox: str, history_id: str | int | None) -> None:
    data: dict[str, Any] = {"emailAddress": mailbox}
    if history_id is not None:
        data["historyId"] = int(history_id)
    response = post_cloud_event(client, cloud_event(json.dumps(data).encode()))
    assert response.status_code == 200, response.get_data(as_text=True)


def events(messages: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(m.data) for m in messages]


def order_ids(messages: list[Any]) -> list[str]:
    return [e["entity_id"] for e in events(messages)]


def checkpoint(emulators: dict[str, str], mailbox: str) -> dict[str, Any]:
    from google.cloud import firestore

    client = firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"])
    doc = client.collection(f"{os.environ['FIRESTORE_PREFIX']}gmail_mailboxes").document(mailbox)
    return doc.get().to_dict() or {}


def test_a_notification_publishes_the_order_as_a_valid_event(stack, mailbox, topic):
    client = app("gmail_ingest", "cloudevent")
    delivered = deliver(stack, mailbox, "smakuy_two_items_fee_discount.eml")

    notify(client, mailbox, delivered["historyId"])

    got = events(topic.pull(expect=1))
    assert len(got) == 1
    jsonschema.validate(got[0], SCHEMA)
    order = got[0]["entity"]
    assert got[0]["source"] == "email:smakuy"
    assert got[0]["shop"] == mailbox
    assert order["order_id"] == "SM-48377"
    assert order["total"] == {"amount": "1234.50", "currency": "UAH"}
    assert order["customer"]["phone"] == "+380507654321"
    assert len(order["line_items"]) == 2


def test_redelivered_notifications_publish_nothing_new_and_the_same_mail_is_one_event(
    stack, mailbox, topic
):
    client = app("gmail_ingest", "cloudevent")
    first = deliver(stack, mailbox, "kiire_two_items_fee_discount.eml")
    notify(client, mailbox, first["historyId"])
    [published] = events(topic.pull(expect=1))
    assert published["entity_id"] == "K-7Q2M9"

    notify(client, mailbox, first["historyId"])  # Pub/Sub redelivers the notification
    notify(client, mailbox, None)  # the scheduled catch-up run
    assert topic.pull(expect=1, timeout=2) == []

    again = deliver(stack, mailbox, "kiire_two_items_fee_discount.eml")  # forwarded twice
    notify(client, mailbox, again["historyId"])
    marker = deliver(stack, mailbox, "kiire_plain_text.eml")
    notify(client, mailbox, marker["historyId"])

    repeat, other = events(topic.pull(expect=2))
    # the same order, the same event id: crm_writer and the notifier keep it once
    assert repeat["event_id"] == published["event_id"]
    assert other["entity_id"] == "K-3F8LX"
    assert checkpoint(stack, mailbox)["history_id"] == int(marker["historyId"])


def test_history_is_followed_across_pages(stack, mailbox, topic):
    os.environ["GMAIL_PAGE_SIZE"] = "2"
    client = app("gmail_ingest", "cloudevent")
    start = deliver(stack, mailbox, "unrelated_newsletter.eml")
    notify(client, mailbox, start["historyId"])  # first contact: the baseline
    names = [
        "smakuy_one_item.eml",
        "unrelated_newsletter.eml",
        "smakuy_two_items_fee_discount.eml",
        "kiire_two_items_fee_discount.eml",
        "kiire_plain_text.eml",
    ]
    last = [deliver(stack, mailbox, name) for name in names][-1]

    notify(client, mailbox, last["historyId"])  # five records, three pages of two

    ids = order_ids(topic.pull(expect=4))
    assert sorted(ids) == ["K-3F8LX", "K-7Q2M9", "SM-48213", "SM-48377"]
    assert checkpoint(stack, mailbox)["history_id"] == int(last["historyId"])


def test_a_checkpoint_gmail_no_longer_knows_falls_back_to_a_full_sync(stack, mailbox, topic):
    client = app("gmail_ingest", "cloudevent")
    start = deliver(stack, mailbox, "smakuy_one_item.eml")
    notify(client, mailbox, start["historyId"])
    assert order_ids(topic.pull(expect=1)) == ["SM-48213"]
    missed = deliver(stack, mailbox, "kiire_plain_text.eml")  # its notification is lost
    standin.forget_history(stack["GMAIL_API_URL"], mailbox)  # a week passes: 404 from now
    latest = deliver(stack, mailbox, "smakuy_two_items_fee_discount.eml")

    notify(client, mailbox, latest["historyId"])

    # everything since the last good sync (minus a margin) is listed again; the mail
    # already published is recognised as such and not published again
    assert sorted(order_ids(topic.pull(expect=2))) == ["K-3F8LX", "SM-48377"]
    assert topic.pull(expect=1, timeout=1) == []
    assert (
        checkpoint(stack, mailbox)["history_id"]
        == int(latest["historyId"])
        > int(missed["historyId"])
    )
    after = deliver(stack, mailbox, "kiire_two_items_fee_discount.eml")
    notify(client, mailbox, after["historyId"])  # history works again from the new baseline
    assert order_ids(topic.pull(expect=1)) == ["K-7Q2M9"]


def test_mail_from_an_unknown_sender_leaves_only_a_log_line(stack, mailbox, topic, capsys):
    from google.cloud import firestore

    client = app("gmail_ingest", "cloudevent")
    delivered = deliver(stack, mailbox, "unrelated_newsletter.eml")

    notify(client, mailbox, delivered["historyId"])

    assert topic.pull(expect=1, timeout=2) == []
    attempts = firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"]).collection(
        f"{os.environ['FIRESTORE_PREFIX']}gmail_attempts"
    )
    assert list(attempts.stream()) == []  # never read past its headers, nothing stored
    out = capsys.readouterr().out
    assert "gmail message ignored" in out and delivered["id"] in out
    assert "packaging-supplier" not in out and mailbox not in out  # no addresses in logs


def test_a_recognised_but_broken_mail_is_quarantined(stack, mailbox, topic):
    client = app("gmail_ingest", "cloudevent")
    delivered = deliver(stack, mailbox, "smakuy_broken.eml")

    notify(client, mailbox, delivered["historyId"])

    got = events(topic.pull(expect=1))
    assert len(got) == 1
    jsonschema.validate(got[0], SCHEMA)
    event = got[0]
    assert event["event_type"] == "payload.quarantined"
    assert event["source"] == "email:smakuy"
    assert event["entity"]["ref"] == delivered["id"]
    assert "missing phone" in event["entity"]["reason"]
    assert event["raw"]["body"] == (MAILS / "smakuy_broken.eml").read_text()


def test_a_broken_notification_is_dropped_without_a_retry(stack, mailbox, topic):
    client = app("gmail_ingest", "cloudevent")
    response = post_cloud_event(client, cloud_event(b"not json"))
    assert response.status_code == 200
    assert topic.pull(expect=1, timeout=1) == []


def test_watch_renewal_records_the_expiry_and_catches_up(stack, mailbox, topic):
    os.environ["GMAIL_MAILBOX"] = mailbox
    os.environ["GMAIL_PUSH_TOPIC"] = "gmail-push"
    client = app("gmail_watch_renew", "http")
    delivered = deliver(stack, mailbox, "kiire_plain_text.eml")  # no notification ever came

    response = client.post("/")

    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    watch = standin.watch_state(stack["GMAIL_API_URL"], mailbox)
    assert watch is not None
    assert watch["topicName"] == f"projects/{stack['GOOGLE_CLOUD_PROJECT']}/topics/gmail-push"
    assert "labelIds" not in watch  # every label: mail a filter files away notifies too
    stored = checkpoint(stack, mailbox)
    assert stored["watch_expiration"].isoformat() == answer["watch_expiration"]
    assert order_ids(topic.pull(expect=1)) == ["K-3F8LX"]
    assert stored["history_id"] == int(delivered["historyId"])

    later = deliver(stack, mailbox, "smakuy_one_item.eml")
    assert client.post("/?mode=catchup").status_code == 200
    assert order_ids(topic.pull(expect=1)) == ["SM-48213"]
    assert checkpoint(stack, mailbox)["history_id"] == int(later["historyId"])


def test_the_stand_in_answers_format_full_in_gmails_own_shape(stack, mailbox):
    """What gmail_ingest does not use but Gmail documents: the parsed MIME tree, each
    part's body decoded from its transfer encoding and sent as base64url."""
    from orderhub import mime
    from orderhub.gmail_ingest import wiring as gmail_ingest

    delivered = deliver(stack, mailbox, "kiire_two_items_fee_discount.eml")
    users = gmail_ingest.gmail_service().users()

    full = users.messages().get(userId=mailbox, id=delivered["id"], format="full").execute()

    real = json.loads(
        (FIXTURES / "gmail" / "gmail_users_messages_get_format_full_example.json").read_text()
    )
    assert set(real) <= set(full)
    assert set(real["payload"]) <= set(full["payload"])
    assert full["payload"]["mimeType"] == "multipart/alternative"
    html_part = full["payload"]["parts"][1]
    assert html_part["mimeType"] == "text/html"
    headers = {h["name"]: h["value"] for h in html_part["headers"]}
    assert headers["Content-Transfer-Encoding"] == "quoted-printable"
    html = mime.b64url_decode(html_part["body"]["data"]).decode("iso-8859-1")
    assert "Jo\u00e3o Sim\u00f5es" in html  # decoded: no =E3 escapes left
