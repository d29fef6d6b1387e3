"""Issue 13 items 1-6 and issue 11 item 4: order mail is never lost, one mail never stops
the mailbox, the checkpoint never overshoots, full syncs have no gaps, backlogs drain,
mail outside INBOX is read, and a huge mail is never fetched."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from orderhub.errors import TransientError
from orderhub.gmail_ingest import sync as gmail
from tests.gmailfakes import BOX, Bus, Killed, World, kiire, newsletter


def started(**limits: Any) -> World:
    """A world whose mailbox has been synced once (checkpoint set)."""
    world = World(**limits)
    world.sync()
    return world


# ------------------------------------------------------------- 1. no claim counted as done
def test_concurrent_syncs_where_one_publish_fails_lose_nothing():
    world = started()
    start = world.checkpoints.get(BOX)
    order = world.history_id(world.deliver("smakuy_one_item.eml"))
    overlapping: list[BaseException] = []

    def a_second_sync_runs_then_pubsub_fails(event: dict[str, Any]) -> None:
        try:
            world.sync(order)  # a catch-up run, overlapping this one
        except TransientError as exc:
            overlapping.append(exc)
        raise TransientError("Pub/Sub is away")

    failing = Bus()
    failing.before = a_second_sync_runs_then_pubsub_fails
    with pytest.raises(TransientError):
        world.sync(order, bus=failing)

    # the overlapping run neither counted the mail as done nor moved the checkpoint:
    # it was refused, and Pub/Sub redelivers its notification
    assert [type(e) for e in overlapping] == [gmail.MailboxBusy]
    assert world.checkpoints.get(BOX) == start
    world.sync(order)  # the redeliveries
    world.sync(order)
    assert world.bus.orders() == ["SM-48213"]


def test_a_run_killed_holding_the_mailbox_blocks_it_only_until_its_lease_ends():
    world = started()
    order = world.history_id(world.deliver("smakuy_one_item.eml"))

    def killed(message_id: str) -> None:
        raise Killed()

    world.api.before_raw = killed
    with pytest.raises(Killed):
        world.sync(order)  # dies without unlocking (the fake has no finally to run)
    world.checkpoints.locks[BOX] = ("dead-run", world.clock, world.clock + world.limits.lease)
    world.api.before_raw = lambda message_id: None
    with pytest.raises(gmail.MailboxBusy):
        world.sync(order)

    world.clock += world.limits.lease + timedelta(seconds=1)
    world.sync(order)

    assert world.bus.orders() == ["SM-48213"]


def test_a_notification_older_than_the_run_holding_the_mailbox_is_acknowledged():
    """That run began after the change was announced, so it reads it: no retry needed.
    An older run may have listed its history before the change: then Pub/Sub retries."""
    world = started()
    order = world.history_id(world.deliver("smakuy_one_item.eml"))
    now = world.clock
    world.checkpoints.locks[BOX] = ("newer-run", now, now + world.limits.lease)

    assert world.sync(order, notified_at=now - timedelta(seconds=30)).mode == "in_progress"
    with pytest.raises(gmail.MailboxBusy):
        world.sync(order, notified_at=now + timedelta(seconds=1))
    assert world.bus.events == []


def test_mail_published_once_is_not_published_again_when_listed_again():
    world = started()
    first = world.deliver("smakuy_one_item.eml")
    world.sync(world.history_id(first))
    last = world.history_id(world.deliver("kiire_plain_text.eml"))
    world.api.state.forget_history(BOX)  # a 404: the full sync re-reads the last day

    result = world.sync(last)

    assert result.mode == "full"
    assert result.duplicates == 1
    assert world.bus.orders() == ["SM-48213", "K-3F8LX"]


def test_an_event_that_can_never_be_published_is_quarantined_and_the_next_mail_flows():
    world = started()
    too_big = world.deliver("smakuy_one_item.eml")
    last = world.history_id(world.deliver("kiire_plain_text.eml"))

    def refuse_the_smakuy_order(event: dict[str, Any]) -> None:
        if event["event_type"] == "order.created" and event["entity_id"] == "SM-48213":
            raise ValueError("MessageTooLargeError: the message is too large")

    world.bus.before = refuse_the_smakuy_order
    result = world.sync(last)

    assert world.bus.orders() == ["K-3F8LX"]
    [kept] = world.bus.quarantined()
    assert kept["entity"]["ref"] == too_big["id"]
    assert "could not be published" in kept["entity"]["reason"]
    assert result.checkpoint == last


def test_a_store_answer_lost_before_the_publish_does_not_lose_the_mail():
    world = started()
    last = world.history_id(world.deliver("smakuy_one_item.eml"))
    world.attempts.lose_answers = 1  # the write landed, its answer did not

    with pytest.raises(TransientError):
        world.sync(last)
    world.sync(last)  # the redelivery

    assert world.bus.orders() == ["SM-48213"]


def test_a_run_killed_before_its_publish_does_not_lose_the_mail():
    world = started()
    last = world.history_id(world.deliver("smakuy_one_item.eml"))
    bus_before = world.bus.before

    def killed(event: dict[str, Any]) -> None:
        world.bus.before = bus_before
        raise Killed()

    world.bus.before = killed
    with pytest.raises(Killed):
        world.sync(last)
    world.sync(last)  # Pub/Sub redelivers the unacknowledged notification

    assert world.bus.orders() == ["SM-48213"]


# --------------------------------------------------------- 2. one mail never stops the box
def test_an_absurd_total_is_quarantined_and_the_next_order_still_arrives():
    world = started()
    absurd = world.deliver(kiire("ABSURD1", total="123456789012345678901234567890.00"))
    last = world.history_id(world.deliver("smakuy_one_item.eml"))

    result = world.sync(last)

    assert world.bus.orders() == ["SM-48213"]
    [kept] = world.bus.quarantined()
    assert kept["entity"]["ref"] == absurd["id"]
    assert kept["source"] == "email:kiire"
    assert kept["entity"]["reason"]
    assert "K-ABSURD1" in kept["raw"]["body"]  # the mail itself is kept
    assert result.checkpoint == last


@pytest.mark.parametrize(
    "error", [RuntimeError("a bug"), KeyError("payload"), RecursionError(), MemoryError()]
)
def test_any_unexpected_error_on_one_mail_quarantines_only_that_mail(monkeypatch, error):
    world = started()
    bad = world.deliver("smakuy_two_items_fee_discount.eml")
    last = world.history_id(world.deliver("kiire_plain_text.eml"))
    real = gmail.message_events

    def fails_on_the_bad_one(**kwargs: Any) -> Any:
        if kwargs["message"]["id"] == bad["id"]:
            raise error
        return real(**kwargs)

    monkeypatch.setattr(gmail, "message_events", fails_on_the_bad_one)
    world.sync(last)

    assert world.bus.orders() == ["K-3F8LX"]
    [kept] = world.bus.quarantined()
    assert kept["entity"]["ref"] == bad["id"]
    assert type(error).__name__ in kept["entity"]["reason"]


def test_gmail_being_away_still_raises_so_pubsub_retries():
    world = started()
    start = world.checkpoints.get(BOX)
    last = world.history_id(world.deliver("smakuy_one_item.eml"))

    def away(message_id: str) -> None:
        raise TransientError("Gmail message failed with HTTP 503")

    world.api.before_raw = away
    with pytest.raises(TransientError):
        world.sync(last)
    assert world.checkpoints.get(BOX) == start
    assert world.bus.events == []


# ------------------------------------------------------------ 3. checkpoint never overshoots
def test_a_mail_labelled_after_a_new_mail_arrived_does_not_carry_the_checkpoint_past_it():
    world = started()
    first = world.deliver("smakuy_one_item.eml")
    state = world.api.state
    late: dict[str, Any] = {}

    def meanwhile(message_id: str) -> None:
        if message_id == first["id"] and not late:
            late.update(state.deliver(BOX, kiire("LATE1")))  # a new mail arrives...
            state.modify(BOX, first["id"], ["Label_7"], [])  # ...and the first is labelled

    world.api.before_raw = meanwhile
    result = world.sync(world.history_id(first))
    assert result.checkpoint == world.history_id(first)  # what history.list reported

    world.sync(world.history_id(late))  # the new mail's own notification

    assert sorted(world.bus.orders()) == ["K-LATE1", "SM-48213"]


# ----------------------------------------------------------------- 4. full sync, no gaps
def test_after_a_404_every_mail_since_the_last_good_sync_is_read_without_a_cap():
    world = started()  # the last good sync: now
    for n in range(70):  # more than the old 50-message cap, older than its 3 days
        world.deliver(kiire(f"OLD{n:03d}"), age=timedelta(days=5))
    world.deliver("unrelated_newsletter.eml", age=timedelta(days=4))
    world.api.state.forget_history(BOX)  # ingestion was down longer than Gmail keeps history
    state = world.checkpoints.load(BOX)
    assert state.synced_at is not None
    world.checkpoints.states[BOX] = replace(state, synced_at=state.synced_at - timedelta(days=6))
    last = world.history_id(world.deliver("smakuy_one_item.eml"))

    first = world.sync(last)
    world.drain()

    assert first.mode == "full"
    orders = world.bus.orders()
    assert sorted(orders) == sorted([f"K-OLD{n:03d}" for n in range(70)] + ["SM-48213"])
    assert world.checkpoints.get(BOX) >= last
    after = world.history_id(world.deliver("kiire_two_items_fee_discount.eml"))
    assert world.sync(after).mode == "history"  # history works again from the new baseline
    assert world.bus.orders()[-1] == "K-7Q2M9"


def test_mail_older_than_the_last_good_sync_minus_the_margin_is_not_reread():
    world = started()
    world.deliver(kiire("ANCIENT"), age=timedelta(days=30))
    world.api.state.forget_history(BOX)
    last = world.history_id(world.deliver("smakuy_one_item.eml"))

    world.sync(last)

    assert world.bus.orders() == ["SM-48213"]


def test_the_first_sync_reads_every_recent_mail_not_only_the_newest_fifty():
    world = World(max_messages=1000)
    for n in range(60):
        world.deliver(kiire(f"NEW{n:03d}"), age=timedelta(days=2))
    world.deliver(kiire("TOO-OLD"), age=timedelta(days=10))

    result = world.sync()

    assert result.mode == "full"
    assert sorted(world.bus.orders()) == [f"K-NEW{n:03d}" for n in range(60)]


def test_mail_arriving_during_a_full_sync_is_read_from_history_afterwards():
    world = World()
    state = world.api.state
    during: dict[str, Any] = {}
    first = world.deliver("smakuy_one_item.eml")

    def meanwhile(message_id: str) -> None:
        if not during:
            during.update(state.deliver(BOX, kiire("DURING")))

    world.api.before_metadata = meanwhile
    world.sync(world.history_id(first))
    world.api.before_metadata = lambda message_id: None
    world.sync()  # the catch-up (or the mail's own notification)

    assert sorted(world.bus.orders()) == ["K-DURING", "SM-48213"]


# ------------------------------------------------------------------- 5. a backlog drains
def test_a_backlog_longer_than_one_run_finishes_over_several_runs_each_order_once():
    world = started(max_messages=10, page_size=4)
    for n in range(25):
        world.deliver(kiire(f"B{n:02d}"))
        world.deliver(newsletter(n))
    checkpoints = []

    runs = 0
    while True:
        runs += 1
        result = world.sync()
        checkpoints.append(result.checkpoint)
        if not result.more:
            break

    assert runs == 5  # 50 mails, 10 a run
    assert checkpoints == sorted(checkpoints) and len(set(checkpoints)) == runs  # it moves
    assert sorted(world.bus.orders()) == [f"K-B{n:02d}" for n in range(25)]
    assert len(world.bus.orders()) == 25


def test_a_full_sync_longer_than_one_run_resumes_where_it_stopped():
    world = World(max_messages=7)
    for n in range(20):
        world.deliver(kiire(f"F{n:02d}"))

    runs = world.drain()

    assert runs == 3
    assert sorted(world.bus.orders()) == [f"K-F{n:02d}" for n in range(20)]
    assert len(world.bus.orders()) == 20
    assert world.checkpoints.load(BOX).full is None


# ----------------------------------------------------------------------------- 6. labels
def test_mail_a_filter_files_away_from_inbox_is_read():
    world = started()
    filed = world.deliver("smakuy_one_item.eml", labels=["Label_12"])  # skip the inbox

    world.sync(world.history_id(filed))

    assert world.bus.orders() == ["SM-48213"]


def test_mail_moved_from_spam_into_inbox_is_read_then_and_not_before():
    world = started()
    spam = world.deliver("kiire_plain_text.eml", labels=["SPAM"])
    world.sync(world.history_id(spam))
    assert world.bus.events == []

    moved = world.api.state.modify(BOX, spam["id"], ["INBOX"], ["SPAM"])
    world.sync(int(moved["historyId"]))

    assert world.bus.orders() == ["K-3F8LX"]


# ------------------------------------------------------- issue 11 item 4: size and poison
THIRTY_MB = 30 * 1024 * 1024


def huge(order_mail: bytes) -> bytes:
    """An order mail with a 30 MB attachment (base64 lines)."""
    head, _, body = order_mail.partition(b"\n\n")
    boundary = b"big-boundary"
    head = b"\n".join(
        line for line in head.split(b"\n") if not line.lower().startswith(b"content-")
    )
    line = b"QUJD" * 19 + b"\n"
    attachment = line * (THIRTY_MB // len(line))
    return (
        head
        + b'\nContent-Type: multipart/mixed; boundary="big-boundary"\n\n--'
        + boundary
        + b"\nContent-Type: text/plain; charset=utf-8\n\n"
        + body
        + b"\n--"
        + boundary
        + b"\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
        + b'Content-Disposition: attachment; filename="menu.bin"\n\n'
        + attachment
        + b"--"
        + boundary
        + b"--\n"
    )


def test_a_30_mb_order_mail_is_never_fetched_but_recorded_and_the_next_order_flows():
    world = started()
    big = world.deliver(huge(kiire("HUGE1")))
    last = world.history_id(world.deliver("smakuy_one_item.eml"))

    result = world.sync(last)

    assert world.bus.orders() == ["SM-48213"]
    assert big["id"] not in world.api.raw_fetches()  # the 30 MB were never downloaded
    [kept] = world.bus.quarantined()
    assert kept["entity"]["ref"] == big["id"]
    assert kept["source"] == "email:kiire"  # its From/Subject match a rule: managers alerted
    assert "over the" in kept["entity"]["reason"]
    assert "body" not in kept["raw"]  # kept by reference
    assert result.checkpoint == last


def test_a_30_mb_mail_no_rule_knows_leaves_a_log_line_only(capsys):
    world = started()
    big = world.deliver(huge(newsletter(1)))

    world.sync(world.history_id(big))

    assert world.bus.events == []
    assert big["id"] not in world.api.raw_fetches()
    assert big["id"] in capsys.readouterr().out


def test_a_mail_that_kills_every_run_is_set_aside_after_n_tries_and_the_box_moves_on():
    world = started(max_attempts=3)
    deadly = world.deliver("smakuy_two_items_fee_discount.eml")
    last = world.history_id(world.deliver("kiire_plain_text.eml"))

    def dies_on_it(message_id: str) -> None:
        if message_id == deadly["id"]:
            raise Killed()  # out of memory / timeout: the whole run dies

    world.api.before_raw = dies_on_it
    for _ in range(3):
        with pytest.raises(Killed):
            world.sync(last)
    result = world.sync(last)

    assert world.bus.orders() == ["K-3F8LX"]
    [kept] = world.bus.quarantined()
    assert kept["entity"]["ref"] == deadly["id"]
    assert "failed 3 times" in kept["entity"]["reason"]
    assert result.checkpoint == last
    assert world.attempts.counts == {}


def test_pubsub_being_away_does_not_count_against_a_mail():
    world = started(max_attempts=2)
    last = world.history_id(world.deliver("smakuy_one_item.eml"))

    for _ in range(4):
        world.bus.fail_times = 1
        with pytest.raises(TransientError):
            world.sync(last)
    world.sync(last)

    assert world.bus.orders() == ["SM-48213"]
    assert world.bus.quarantined() == []
