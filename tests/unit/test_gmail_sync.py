"""The sync core with the stand-in's logic and in-memory stores: faults lose nothing."""

from __future__ import annotations

from typing import Any

import pytest

from orderhub.errors import TransientError
from orderhub.gmail_ingest import sync as gmail
from orderhub.gmail_ingest.gmail_api import GmailApi
from orderhub.sources import mail
from tests.gmailfakes import BOX, NOW, World


def test_a_failed_publish_loses_nothing_and_the_retry_publishes_it():
    world = World()
    world.sync()  # first contact: an empty mailbox, the checkpoint is set
    world.deliver("smakuy_one_item.eml")
    last = world.history_id(world.deliver("kiire_plain_text.eml"))
    start = world.checkpoints.get(BOX)

    world.bus.fail_times = 1
    with pytest.raises(TransientError):
        world.sync(last)
    assert world.checkpoints.get(BOX) == start  # not advanced past unprocessed mail

    result = world.sync(last)  # Pub/Sub's redelivery
    world.sync()  # and a catch-up run on top: nothing new

    assert sorted(world.bus.orders()) == ["K-3F8LX", "SM-48213"]
    assert result.checkpoint == last


def test_a_notification_not_beyond_the_checkpoint_calls_no_gmail_api():
    world = World()
    first = world.history_id(world.deliver("smakuy_one_item.eml"))
    world.sync(first)
    fetched = len(world.api.state.fetched)

    result = world.sync(first)

    assert result.mode == "up_to_date"
    assert len(world.bus.events) == 1
    assert len(world.api.state.fetched) == fetched


def test_watch_renewal_watches_every_label_and_records_when_it_expires():
    world = World()
    expires = gmail.renew_watch(
        mailbox=BOX,
        topic="projects/p/topics/gmail-push",
        gmail=world.api,
        checkpoints=world.checkpoints,
        now=NOW,
    )
    assert world.checkpoints.watches[BOX] == expires
    watch: Any = world.api.state.box(BOX).watch
    assert watch["topicName"] == "projects/p/topics/gmail-push"
    assert "labelIds" not in watch  # a mail filed away from INBOX still notifies


def test_refused_credentials_say_what_to_do():
    from google.auth.exceptions import RefreshError

    class Expired:
        def execute(self, num_retries: int = 0) -> Any:
            raise RefreshError("invalid_grant: Token has been expired or revoked.")

    with pytest.raises(TransientError, match="re-run scripts/gmail_authorize"):
        GmailApi._run(Expired(), "history")


def metadata(sender: str, subject: str) -> dict[str, Any]:
    headers = [{"name": "From", "value": sender}, {"name": "Subject", "value": subject}]
    return {"id": "m1", "payload": {"mimeType": "text/html", "headers": headers}}


@pytest.mark.parametrize(
    "sender, subject",
    [
        # as in the mail: encoded words
        (
            "=?utf-8?b?0KHQvNCw0LrRg9C5INC00LvRjyDQv9Cw0YDRgtC90LXRgNGW0LI=?= "
            "<orders@partners.smakuy.example>",
            "=?utf-8?b?0J3QvtCy0LUg0LfQsNC80L7QstC70LXQvdC90Y8g4oSWIFNNLTQ4MjEz?=",
        ),
        # as Gmail may give it: decoded, a comma in an unquoted display name
        ("Смакуй, для партнерів <orders@partners.smakuy.example>", "Нове замовлення № SM-48213"),
    ],
)
def test_a_rule_is_found_from_the_metadata_however_gmail_gives_the_headers(sender, subject):
    from orderhub.sources import email

    found = mail.prematch(email.shipped_rules(), metadata(sender, subject))

    assert found is not None and found.source == "email:smakuy"


def test_mail_no_rule_knows_is_not_matched_from_its_metadata():
    from orderhub.sources import email

    found = mail.prematch(
        email.shipped_rules(), metadata("News <news@supplier.example>", "Нове замовлення № SM-1")
    )
    assert found is None


def test_the_notifications_publish_time_is_read_from_the_push():
    from cloudevents.http import CloudEvent

    from orderhub.gmail_ingest import push as gmail_ingest

    def pushed(message: dict[str, Any]) -> Any:
        attributes = {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//x"}
        return CloudEvent(attributes, {"message": message, "subscription": "s"})

    at = gmail_ingest.published_at(pushed({"data": "", "publishTime": "2026-11-29T20:36:02.5Z"}))
    assert at is not None and at.isoformat() == "2026-11-29T20:36:02.500000+00:00"
    assert gmail_ingest.published_at(pushed({"data": ""})) is None
    assert gmail_ingest.published_at(pushed({"data": "", "publishTime": "soon"})) is None


def test_a_token_endpoint_out_of_reach_is_a_transient_fault_not_the_mails():
    from google.auth.exceptions import TransportError

    class Unreachable:
        def execute(self, num_retries: int = 0) -> Any:
            raise TransportError("oauth2.googleapis.com: connection reset")

    with pytest.raises(TransientError, match="Gmail unreachable"):
        GmailApi._run(Unreachable(), "message")
