"""GroupCommit with a send function of our own: who sends, what shares a batch, failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from orderhub.errors import TransientError
from orderhub.groupcommit import GroupCommit


class Recorder:
    """A send that records its batches and the thread that sent each, and can be slowed."""

    def __init__(self, delay: float = 0.0, answer: Callable[[str], object] = str.upper) -> None:
        self.batches: list[list[str]] = []
        self.senders: list[str] = []
        self.budgets: list[float] = []
        self.delay = delay
        self.answer = answer
        self.busy = threading.Lock()
        self.overlapped = False

    def __call__(self, items: list[str], budget: float) -> list[object]:
        if not self.busy.acquire(blocking=False):
            self.overlapped = True  # two batches in flight at once: must never happen
            self.busy.acquire()
        try:
            self.batches.append(list(items))
            self.senders.append(threading.current_thread().name)
            self.budgets.append(budget)
            time.sleep(self.delay)
            return [self.answer(item) for item in items]
        finally:
            self.busy.release()


def run_all(group: GroupCommit, items: list[str], threads: int = 8) -> list[object]:
    def one(item: str) -> object:
        try:
            return group.submit(item, key=item, deadline_s=2.0)
        except TransientError as exc:
            return exc

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, items))


def test_a_lone_call_is_sent_at_once_by_its_own_thread() -> None:
    send = Recorder()
    group: GroupCommit[str, str] = GroupCommit(send, max_items=10)
    started = time.monotonic()
    assert group.submit("a", key="a", deadline_s=2.0) == "A"
    assert time.monotonic() - started < 0.5
    assert send.batches == [["a"]]
    assert send.senders == [threading.current_thread().name]
    assert 1.5 < send.budgets[0] <= 2.0


def test_calls_during_a_send_share_the_next_batch_and_each_gets_its_own_answer() -> None:
    send = Recorder(delay=0.05)
    group: GroupCommit[str, str] = GroupCommit(send, max_items=100)
    items = [f"k{i}" for i in range(40)]

    answers = run_all(group, items, threads=8)

    assert answers == [i.upper() for i in items]
    assert sorted(i for b in send.batches for i in b) == sorted(items)  # each sent once
    assert len(send.batches) < len(items)
    assert max(len(b) for b in send.batches) > 1
    assert not send.overlapped  # one batch in flight at a time
    assert len(set(send.senders)) > 1  # the turn to send is handed on, not kept by one


def test_the_same_key_never_shares_a_batch() -> None:
    send = Recorder(delay=0.02)
    group: GroupCommit[str, str] = GroupCommit(send, max_items=100)

    answers = run_all(group, ["same"] * 6 + ["other"] * 2, threads=8)

    assert answers == ["SAME"] * 6 + ["OTHER"] * 2
    assert all(len(b) == len(set(b)) for b in send.batches)
    assert sum(b.count("same") for b in send.batches) == 6


def test_batches_respect_item_and_byte_limits() -> None:
    send = Recorder(delay=0.02)
    group: GroupCommit[str, str] = GroupCommit(send, max_items=3, max_bytes=250)

    def one(item: str) -> object:
        return group.submit(item, key=item, deadline_s=2.0, size=100)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, [f"k{i}" for i in range(24)]))

    assert answers == [f"K{i}" for i in range(24)]
    assert max(len(b) for b in send.batches) == 2  # 3 items would be 300 bytes


def test_an_item_over_the_byte_limit_still_goes_alone() -> None:
    send = Recorder()
    group: GroupCommit[str, str] = GroupCommit(send, max_items=3, max_bytes=10)
    assert group.submit("big", key="big", deadline_s=2.0, size=1000) == "BIG"
    assert send.batches == [["big"]]


def test_per_item_errors_reach_only_their_callers() -> None:
    def answer(item: str) -> object:
        return TransientError(f"no {item}") if item.startswith("bad") else item.upper()

    send = Recorder(delay=0.02, answer=answer)
    group: GroupCommit[str, str] = GroupCommit(send, max_items=100)

    answers = run_all(group, ["ok1", "bad1", "ok2", "bad2"] * 3, threads=8)

    for item, got in zip(["ok1", "bad1", "ok2", "bad2"] * 3, answers, strict=True):
        if item.startswith("bad"):
            assert isinstance(got, TransientError) and str(got) == f"no {item}"
        else:
            assert got == item.upper()


def test_a_failed_send_fails_its_whole_batch_and_the_next_batch_is_still_sent() -> None:
    calls = {"n": 0}

    def send(items: list[str], budget: float) -> list[object]:
        calls["n"] += 1
        if calls["n"] == 1:
            time.sleep(0.05)  # let others queue behind the failing batch
            raise TransientError("backend away")
        return [i.upper() for i in items]

    group: GroupCommit[str, str] = GroupCommit(send, max_items=100)
    answers = run_all(group, [f"k{i}" for i in range(16)], threads=8)

    failed = [a for a in answers if isinstance(a, TransientError)]
    assert failed and all(str(a) == "backend away" for a in failed)
    assert len(failed) < 16  # only the first batch failed; the queue went on
    assert all(a == f"K{i}" for i, a in enumerate(answers) if not isinstance(a, TransientError))


def test_a_bug_in_send_is_raised_to_the_sender_and_fails_the_others_cleanly() -> None:
    def send(items: list[str], budget: float) -> list[object]:
        raise KeyError("bug")

    group: GroupCommit[str, str] = GroupCommit(send, max_items=100)
    with pytest.raises(KeyError):
        group.submit("a", key="a", deadline_s=2.0)
    # the group is not stuck: the next call sends (and meets the same bug)
    with pytest.raises(KeyError):
        group.submit("b", key="b", deadline_s=2.0)


def test_a_call_whose_deadline_passed_while_queued_is_not_sent() -> None:
    send = Recorder(delay=0.3)
    group: GroupCommit[str, str] = GroupCommit(send, max_items=100)

    def late() -> object:
        time.sleep(0.05)  # arrives while "first" is being sent
        try:
            return group.submit("late", key="late", deadline_s=0.1)
        except TransientError as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(group.submit, "first", key="first", deadline_s=2.0)
        second = pool.submit(late)
        assert first.result() == "FIRST"
        assert isinstance(second.result(), TransientError)
    assert send.batches == [["first"]]
