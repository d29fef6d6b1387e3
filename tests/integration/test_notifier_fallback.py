"""A manager whose Messenger window has closed still hears of a new order: by e-mail
through the shop's Gmail (issue 14 item 7). The notifier through functions-framework, on
the emulators, the ManyChat stand-in (answering 3011) and the Gmail stand-in."""

from __future__ import annotations

import base64
import email
import json
import os
import uuid
from email import policy
from typing import Any

import requests

from orderhub.event import encode
from tests.conftest import Crm, clear_caches, cloud_event, post_cloud_event, unique
from tests.integration.test_notifier import order
from tests.manychat import StandIn, new_subscriber_id


def sent_to(gmail_url: str, address: str) -> list[Any]:
    """Messages the shop's mailbox sent to ``address`` (Gmail keeps them under SENT)."""
    base = f"{gmail_url.rstrip('/')}/gmail/v1/users/me/messages"
    listed = requests.get(base, params={"labelIds": "SENT", "maxResults": 500}, timeout=10)
    found = []
    for ref in listed.json().get("messages", []):
        raw = requests.get(f"{base}/{ref['id']}", params={"format": "raw"}, timeout=10).json()
        message = email.message_from_bytes(
            base64.urlsafe_b64decode(raw["raw"] + "=="), policy=policy.default
        )
        if address in str(message["To"]):
            found.append(message)
    return found


def test_a_closed_window_is_bridged_by_e_mail_once(emulators: dict[str, str], crm: Crm):
    from functions_framework import create_app

    closed, open_ = new_subscriber_id(), new_subscriber_id()
    address = f"{uuid.uuid4().hex[:12]}@managers.example"
    os.environ.update(
        FIRESTORE_PREFIX=unique("fb") + "-",
        MANYCHAT_API_URL=emulators["MANYCHAT_API_URL"],
        MANYCHAT_TOKEN=emulators["MANYCHAT_TOKEN"],
        NOTIFY_MANAGERS=json.dumps(
            [
                {"subscriber_id": closed, "name": "Closed", "email": address},
                {"subscriber_id": open_, "name": "Open"},
            ]
        ),
        NOTIFY_FALLBACK_FROM="Shop <owner.shop@gmail.example>",
        GMAIL_API_URL=emulators["GMAIL_API_URL"],
    )
    clear_caches()
    client = create_app(
        target="notifier", source="functions/main.py", signature_type="cloudevent"
    ).test_client()
    manychat = StandIn(emulators["MANYCHAT_API_URL"])
    manychat.script(closed, "3011", times=5)  # outside the 24-hour window
    event = order()

    assert post_cloud_event(client, cloud_event(encode(event))).status_code == 200
    assert post_cloud_event(client, cloud_event(encode(event))).status_code == 200  # redelivery

    (mail,) = sent_to(emulators["GMAIL_API_URL"], address)
    text = mail.get_content()
    assert str(mail["Subject"]).startswith("🛒 New order") and "42.00 EUR" in text
    assert "message_tag" not in manychat.calls(closed)[0]["body"]  # no tag, as Meta asks
    assert len(manychat.delivered(open_)) == 1
    rows = crm.query(
        "SELECT manager_id, status, manychat_code FROM {ds}.notifications WHERE event_id = @e",
        e=event["event_id"],
    )
    assert sorted((r["manager_id"], r["status"]) for r in rows) == sorted(
        [(closed, "emailed"), (open_, "sent")]
    )
    assert [r["manychat_code"] for r in rows if r["manager_id"] == closed] == [3011]
