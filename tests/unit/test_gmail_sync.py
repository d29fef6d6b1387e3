"""The sync core with the stand-in's logic and in-memory stores: faults lose nothing."""

from __future__ import annotations

from typing import Any

import pytest

from orderhub import gmail
from orderhub.errors import TransientError
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
        gmail.GmailApi._run(Expired(), "history")
