"""A service's layout changes (issue 25, item 3): every mail of it is quarantined saying so,
and the managers are told once per service, not once per mail (a marker per mailbox and
service in Firestore, ended by a mail of the service that reads completely again).

gmail_ingest through functions-framework, against the Pub/Sub and Firestore emulators and
the Gmail stand-in; the notifier's announcement id is what it claims per manager.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from devstack.standins import gmail as standin
from orderhub.notifier.notify import announcement_id
from tests.conftest import unique
from tests.integration.test_gmail_ingest import MAILS, app, events, notify


@pytest.fixture
def mailbox(emulators: dict[str, str], topic: Any) -> str:
    os.environ["ORDER_EVENTS_TOPIC"] = topic.name
    os.environ["FIRESTORE_PREFIX"] = unique("t") + "_"
    os.environ["GMAIL_API_URL"] = emulators["GMAIL_API_URL"]
    os.environ.pop("GMAIL_REFRESH_TOKEN", None)
    return f"{unique('owner')}@shop.example"


GOOD = (MAILS / "kiire_two_items_fee_discount.eml").read_bytes()
# Kiire renamed the phone's label: the rules' phone regex no longer finds it.
CHANGED = GOOD.replace(b"Telefone", b"Contacto")


def read(stack: dict[str, str], client: Any, mailbox: str, topic: Any, raw: bytes) -> list:
    delivered = standin.deliver(stack["GMAIL_API_URL"], mailbox, raw)
    notify(client, mailbox, delivered["historyId"])
    return events(topic.pull(expect=1))


def test_a_layout_change_is_announced_once_per_service_until_a_mail_reads_fine(
    stack, mailbox, topic
):
    client = app("gmail_ingest", "cloudevent")

    first = read(stack, client, mailbox, topic, CHANGED)
    second = read(stack, client, mailbox, topic, CHANGED.replace(b"K-7Q2M9", b"K-7F3R1"))
    assert [e["event_type"] for e in first + second] == ["payload.quarantined"] * 2
    for event in first + second:
        assert (
            "the layout of kiire changed (field phone no longer found)"
            in (event["entity"]["reason"])
        )
    assert first[0]["event_id"] != second[0]["event_id"]  # two mails, both kept
    assert first[0]["entity"]["announce_once"] == "layout:kiire:1"
    assert announcement_id(first[0]) == announcement_id(second[0])  # told once

    fine = read(stack, client, mailbox, topic, GOOD)
    assert [e["event_type"] for e in fine] == ["order.created"]

    again = read(stack, client, mailbox, topic, CHANGED.replace(b"K-7Q2M9", b"K-7F3S2"))
    assert again[0]["entity"]["announce_once"] == "layout:kiire:2"
    assert announcement_id(again[0]) != announcement_id(first[0])  # a new change: told
