"""Group commit: the callers one instance serves at the same time share one round of RPCs.

An HTTP function instance serves several requests at once (functions-framework's gunicorn
threads). When each of them makes its own small RPCs, most of the CPU (ours and the
server's) goes to per-RPC overhead. ``GroupCommit`` queues the callers' items: the first
caller sends at once (a lone item never waits to fill a batch); callers that arrive while
a batch is in flight queue up, and when it returns the oldest of them sends the next batch
for all of them, then goes back to its own request. No background thread, so nothing
depends on CPU outside a request (Cloud Run throttles it there).

``send(items, budget)`` gets the batch and the seconds left before the earliest caller's
deadline, and returns one outcome per item: a value, or a ``TransientError`` for that
caller to raise. If it raises ``TransientError``, every caller in the batch raises it.
Items with the same ``key`` never share a batch: the later one waits for the next.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from orderhub.errors import TransientError

T = TypeVar("T")
R = TypeVar("R")

#: A caller that is neither answered nor asked to send within its deadline plus this
#: gives up (only a sender that hangs past its own budget could cause that).
GRACE_S = 5.0


@dataclass(eq=False)
class _Ticket(Generic[T, R]):
    item: T
    key: str
    size: int
    deadline: float  # time.monotonic()
    woken: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # this caller sends the next batch
    answered: bool = False
    value: R | None = None
    error: TransientError | None = None

    def answer(self, outcome: R | TransientError) -> None:
        if isinstance(outcome, TransientError):
            self.error = outcome
        else:
            self.value = outcome
        self.answered = True
        self.woken.set()


class GroupCommit(Generic[T, R]):
    """Batches concurrent ``submit`` calls into ``send`` calls. Thread-safe.

    ``batch_sizes`` counts the batches sent so far by their number of items.
    """

    def __init__(
        self,
        send: Callable[[list[T], float], Sequence[R | TransientError]],
        *,
        max_items: int,
        max_bytes: int | None = None,
    ) -> None:
        self._send = send
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._queue: list[_Ticket[T, R]] = []
        self._sending = False
        self.batch_sizes: Counter[int] = Counter()

    def submit(self, item: T, *, key: str, deadline_s: float, size: int = 0) -> R:
        mine: _Ticket[T, R] = _Ticket(item, key, size, time.monotonic() + deadline_s)
        with self._lock:
            self._queue.append(mine)
            mine.leads, self._sending = not self._sending, True
        if not mine.leads:
            mine.woken.wait(deadline_s + GRACE_S)
        while True:
            while mine.leads and not mine.answered:
                try:
                    self._send_next()
                except BaseException:
                    self._pass_on(mine, stop=True)  # a bug: raise it, but leave no one stuck
                    raise
                self._pass_on(mine)
            if mine.answered:
                break
            with self._lock:  # gave up waiting, unless just asked to send
                if mine.leads:
                    continue
                if mine in self._queue:
                    self._queue.remove(mine)
            raise TransientError("no answer in time from the batch this call joined")
        if mine.error is not None:
            raise mine.error
        return mine.value  # type: ignore[return-value]  # answered without error: a value

    def _take(self) -> list[_Ticket[T, R]]:
        """The oldest queued tickets that fit one batch, one per key."""
        with self._lock:
            batch: list[_Ticket[T, R]] = []
            later: list[_Ticket[T, R]] = []
            keys: set[str] = set()
            size = 0
            for ticket in self._queue:
                fits = len(batch) < self._max_items and (
                    self._max_bytes is None or not batch or size + ticket.size <= self._max_bytes
                )
                if ticket.key in keys or not fits:
                    later.append(ticket)
                else:
                    keys.add(ticket.key)
                    size += ticket.size
                    batch.append(ticket)
            self._queue = later
            return batch

    def _pass_on(self, sender: _Ticket[T, R], *, stop: bool = False) -> None:
        """After a batch: keep sending while ours is unanswered, else hand the turn on."""
        with self._lock:
            if not sender.answered and not stop:
                return
            if sender in self._queue:
                self._queue.remove(sender)
            sender.leads = False
            if self._queue:
                successor = self._queue[0]
                successor.leads = True
                successor.woken.set()
            else:
                self._sending = False

    def _send_next(self) -> None:
        batch = self._take()
        if not batch:
            return
        self.batch_sizes[len(batch)] += 1
        budget = min(t.deadline for t in batch) - time.monotonic()
        try:
            if budget <= 0:
                raise TransientError("deadline passed while queued")
            outcomes = list(self._send([t.item for t in batch], budget))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"send answered {len(outcomes)} of {len(batch)} items")
        except TransientError as exc:
            outcomes = [exc] * len(batch)
        except BaseException:
            for ticket in batch:  # nobody in the batch is left waiting
                ticket.answer(TransientError("the batch this call joined failed"))
            raise
        for ticket, outcome in zip(batch, outcomes, strict=True):
            ticket.answer(outcome)
