"""What a Gmail sync keeps between runs, and where: the protocols ``sync`` works against
and their Firestore implementations.

* ``Checkpoints`` (``FirestoreCheckpoints``): per mailbox, the checkpoint, the last good
  sync, the run's lease, a full sync in progress (``MailboxState``, ``FullSync``) and the
  watch's expiry; a copy of the sync and watch times goes to the CRM app's ``gmail_status``.
* ``Attempts`` (``FirestoreAttempts``): per message, the runs that began reading it and
  whether its events were published.
* ``LayoutMarkers`` (``FirestoreLayoutMarkers``): per (mailbox, service), whether the
  service's mail layout is known to have changed.

Firestore faults become ``TransientError`` (``_firestore_call``), so Pub/Sub redelivers.
docs/gmail.md describes the documents.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from orderhub import logs
from orderhub.errors import TransientError


@dataclass(frozen=True)
class FullSync:
    """A full sync in progress: the messages listed, oldest first, and how many are done."""

    token: str  # which full sync this is (two runs may race to start one)
    history_id: int  # where history sync resumes once every listed message is done
    started_at: datetime  # when the listing began: the next "last good sync" time
    ids: tuple[str, ...]
    done: int = 0


@dataclass(frozen=True)
class MailboxState:
    history_id: int | None = None
    synced_at: datetime | None = None  # start of the last run that reached the end
    full: FullSync | None = None
    locked_since: datetime | None = None  # when the run holding the mailbox took it


class Checkpoints(Protocol):
    def load(self, mailbox: str) -> MailboxState: ...

    def advance(
        self, mailbox: str, history_id: int, *, now: datetime, synced_at: datetime | None = None
    ) -> int:
        """Move the checkpoint forward (never back); set ``synced_at`` if given."""
        ...

    def begin_full(self, mailbox: str, full: FullSync, *, now: datetime) -> FullSync:
        """Store ``full`` unless a full sync is already in progress; the one in force."""
        ...

    def full_progress(self, mailbox: str, full: FullSync, done: int, *, now: datetime) -> None: ...

    def finish_full(self, mailbox: str, full: FullSync, *, now: datetime) -> int:
        """End ``full``: checkpoint to its ``history_id`` (never back), ``synced_at`` to its
        start; returns the checkpoint."""
        ...

    def lock(self, mailbox: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
        """Take the mailbox for one run unless another run holds an unexpired lease."""
        ...

    def unlock(self, mailbox: str, owner: str) -> None: ...

    def record_watch(
        self, mailbox: str, *, history_id: int, expiration: datetime, now: datetime
    ) -> None: ...


class Attempts(Protocol):
    """Per message: the runs that began reading it and did not finish, and whether its
    events were published (only ever recorded *after* the publish, so it never hides a
    mail that was not published)."""

    def begin(self, key: str, *, now: datetime) -> int | None:
        """Count one more attempt; the count including this one, or None if the
        message's events were published already."""
        ...

    def done(self, key: str, *, now: datetime) -> None:
        """Its events are published: later runs skip it."""
        ...

    def release(self, key: str) -> None:
        """Take back this run's attempt: the fault was not the mail's (Pub/Sub away)."""
        ...


class LayoutMarkers(Protocol):
    """Per (mailbox, service): whether the service's mail layout is known to have changed,
    so that the managers are told once per service, not once per quarantined mail."""

    def changed(self, mailbox: str, service: str, *, now: datetime, why: str) -> int:
        """Mark the layout changed; the number of this change (the same until a mail of
        the service reads completely again, then one more)."""
        ...

    def read_fine(self, mailbox: str, service: str, *, now: datetime) -> None:
        """A mail of the service was read completely: the next change is a new one."""
        ...


# ------------------------------------------------------------------------ in Firestore
#: Message ids per Firestore document of a stored full-sync list (~20 bytes each).
FULL_SYNC_PART = 5000


def _firestore_call(what: str, call: Callable[[], Any]) -> Any:
    from google.api_core import exceptions

    try:
        return call()
    except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
        raise TransientError(f"Firestore {what} failed: {exc.__class__.__name__}") from exc


class FirestoreCheckpoints:
    """One document per mailbox: ``history_id`` (only ever grows), ``synced_at``, the
    watch's expiry, and ``full_sync`` while one runs; its message ids sit in the
    sub-collection ``full_sync`` (parts of ``FULL_SYNC_PART``), so no list is too long."""

    def __init__(self, client: Any, collection: str, status: Any = None) -> None:
        self._client = client
        self._collection = client.collection(collection)
        #: Where the CRM app's health page reads the mailbox's sync and watch times
        #: (``gmail_status`` in the app's database): a copy of those fields, no checkpoint.
        self._status = status

    def _ref(self, mailbox: str) -> Any:
        return self._collection.document(mailbox.lower().replace("/", "_"))

    def _tell_status(self, mailbox: str, fields: dict[str, Any]) -> None:
        if self._status is None:
            return
        ref = self._status.document(mailbox.lower().replace("/", "_"))
        _firestore_call("status", lambda: ref.set(fields, merge=True, timeout=5.0))

    def _parts(self, mailbox: str) -> Any:
        return self._ref(mailbox).collection("full_sync")

    def load(self, mailbox: str) -> MailboxState:
        snapshot = _firestore_call("read", lambda: self._ref(mailbox).get(timeout=5.0))
        data = (snapshot.to_dict() or {}) if snapshot.exists else {}
        value = data.get("history_id")
        lock = data.get("lock")
        return MailboxState(
            history_id=int(value) if value is not None else None,
            synced_at=data.get("synced_at"),
            full=self._full(mailbox, data.get("full_sync")),
            locked_since=lock.get("since") if isinstance(lock, dict) else None,
        )

    def _full(self, mailbox: str, stored: Any) -> FullSync | None:
        if not isinstance(stored, dict):
            return None
        token = str(stored["token"])
        ids: list[str] = []
        for n in range(int(stored["parts"])):
            doc = self._parts(mailbox).document(f"{token}-{n}")
            part = _firestore_call("read", functools.partial(doc.get, timeout=5.0))
            ids += list((part.to_dict() or {}).get("ids") or [])
        return FullSync(
            token=token,
            history_id=int(stored["history_id"]),
            started_at=stored["started_at"],
            ids=tuple(ids),
            done=int(stored.get("done") or 0),
        )

    def advance(
        self, mailbox: str, history_id: int, *, now: datetime, synced_at: datetime | None = None
    ) -> int:
        """Set the checkpoint to ``history_id`` unless it is already further; returns it."""
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def move(transaction: Any) -> int:
            snapshot = ref.get(transaction=transaction)
            current = (snapshot.to_dict() or {}).get("history_id") if snapshot.exists else None
            changes: dict[str, Any] = {"advanced_at": now}
            if synced_at is not None:
                changes["synced_at"] = synced_at
            if current is None or int(current) < history_id:
                changes["history_id"] = history_id
            transaction.set(ref, changes, merge=True)
            return int(changes.get("history_id") or current or 0)

        moved = int(_firestore_call("checkpoint", lambda: move(self._client.transaction())))
        told: dict[str, Any] = {"advanced_at": now}
        if synced_at is not None:
            told["synced_at"] = synced_at
        self._tell_status(mailbox, told)
        return moved

    def begin_full(self, mailbox: str, full: FullSync, *, now: datetime) -> FullSync:
        from google.cloud import firestore

        ids = list(full.ids)
        chunks = [ids[i : i + FULL_SYNC_PART] for i in range(0, len(ids), FULL_SYNC_PART)]
        for n, chunk in enumerate(chunks):
            doc = self._parts(mailbox).document(f"{full.token}-{n}")
            _firestore_call("write", functools.partial(doc.set, {"ids": chunk}, timeout=10.0))
        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def start(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if isinstance((snapshot.to_dict() or {}).get("full_sync"), dict):
                return False
            record = {
                "token": full.token,
                "history_id": full.history_id,
                "started_at": full.started_at,
                "parts": len(chunks),
                "count": len(ids),
                "done": full.done,
                "updated_at": now,
            }
            transaction.set(ref, {"full_sync": record}, merge=True)
            return True

        if _firestore_call("checkpoint", lambda: start(self._client.transaction())):
            return full
        self._drop_parts(mailbox, full.token, len(chunks))  # another run started one first
        state = self.load(mailbox)
        assert state.full is not None
        return state.full

    def full_progress(self, mailbox: str, full: FullSync, done: int, *, now: datetime) -> None:
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def move(transaction: Any) -> None:
            stored = ((ref.get(transaction=transaction).to_dict()) or {}).get("full_sync")
            if isinstance(stored, dict) and stored.get("token") == full.token:
                if int(stored.get("done") or 0) < done:
                    transaction.update(ref, {"full_sync.done": done, "full_sync.updated_at": now})

        _firestore_call("checkpoint", lambda: move(self._client.transaction()))

    def finish_full(self, mailbox: str, full: FullSync, *, now: datetime) -> int:
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def finish(transaction: Any) -> tuple[int, int]:
            data = (ref.get(transaction=transaction).to_dict()) or {}
            stored = data.get("full_sync")
            current = data.get("history_id")
            if not (isinstance(stored, dict) and stored.get("token") == full.token):
                return int(current) if current is not None else full.history_id, 0
            moved = max(full.history_id, int(current) if current is not None else 0)
            transaction.update(
                ref,
                {
                    "history_id": moved,
                    "synced_at": full.started_at,
                    "advanced_at": now,
                    "full_sync": firestore.DELETE_FIELD,
                },
            )
            return moved, int(stored.get("parts") or 0)

        moved, parts = _firestore_call("checkpoint", lambda: finish(self._client.transaction()))
        try:
            self._drop_parts(mailbox, full.token, parts)
        except TransientError:  # the sync is done; a stale list only takes room
            logs.warning("gmail full-sync list not deleted", token=full.token)
        return int(moved)

    def lock(self, mailbox: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def take(transaction: Any) -> bool:
            held = ((ref.get(transaction=transaction).to_dict()) or {}).get("lock")
            if isinstance(held, dict) and held.get("owner") != owner and held["until"] > now:
                return False
            lock = {"owner": owner, "since": now, "until": now + lease}
            transaction.set(ref, {"lock": lock}, merge=True)
            return True

        return bool(_firestore_call("lock", lambda: take(self._client.transaction())))

    def unlock(self, mailbox: str, owner: str) -> None:
        from google.cloud import firestore

        ref = self._ref(mailbox)

        @firestore.transactional  # type: ignore[misc]
        def give_back(transaction: Any) -> None:
            held = ((ref.get(transaction=transaction).to_dict()) or {}).get("lock")
            if isinstance(held, dict) and held.get("owner") == owner:
                transaction.update(ref, {"lock": firestore.DELETE_FIELD})

        _firestore_call("unlock", lambda: give_back(self._client.transaction()))

    def _drop_parts(self, mailbox: str, token: str, parts: int) -> None:
        for n in range(parts):
            doc = self._parts(mailbox).document(f"{token}-{n}")
            _firestore_call("write", functools.partial(doc.delete, timeout=10.0))

    def record_watch(
        self, mailbox: str, *, history_id: int, expiration: datetime, now: datetime
    ) -> None:
        doc = {"watch_expiration": expiration, "watch_history_id": history_id, "watched_at": now}
        _firestore_call("write", lambda: self._ref(mailbox).set(doc, merge=True, timeout=5.0))
        self._tell_status(mailbox, {"watch_expiration": expiration, "watched_at": now})


class FirestoreAttempts:
    """``Attempts`` in Firestore: one small document per message read (attempts, done),
    kept ``ttl`` (longer than Gmail keeps history, so a re-listed message is skipped);
    a TTL policy on ``expires_at`` removes them."""

    def __init__(self, client: Any, collection: str, ttl: timedelta) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._ttl = ttl

    def _ref(self, key: str) -> Any:
        return self._collection.document(hashlib.sha256(key.encode()).hexdigest()[:40])

    def begin(self, key: str, *, now: datetime) -> int | None:
        from google.cloud import firestore

        ref = self._ref(key)

        @firestore.transactional  # type: ignore[misc]
        def count(transaction: Any) -> int | None:
            snapshot = ref.get(transaction=transaction)
            data = (snapshot.to_dict() or {}) if snapshot.exists else {}
            if data.get("done"):
                return None
            tries = int(data.get("attempts") or 0) + 1
            record = {"key": key, "attempts": tries, "at": now, "expires_at": now + self._ttl}
            transaction.set(ref, record)
            return tries

        tries = _firestore_call("attempt count", lambda: count(self._client.transaction()))
        return None if tries is None else int(tries)

    def done(self, key: str, *, now: datetime) -> None:
        record = {"key": key, "done": True, "attempts": 0, "at": now, "expires_at": now + self._ttl}
        _firestore_call("attempt done", lambda: self._ref(key).set(record, timeout=5.0))

    def release(self, key: str) -> None:
        from google.cloud import firestore

        ref = self._ref(key)

        @firestore.transactional  # type: ignore[misc]
        def back(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            data = (snapshot.to_dict() or {}) if snapshot.exists else {}
            if data and not data.get("done"):
                tries = int(data.get("attempts") or 0) - 1
                if tries > 0:
                    transaction.update(ref, {"attempts": tries})
                else:
                    transaction.delete(ref)

        _firestore_call("attempt release", lambda: back(self._client.transaction()))


class FirestoreLayoutMarkers:
    """``LayoutMarkers`` in Firestore: one document per (mailbox, service) with the
    change's number (``epoch``), ``state`` (``changed`` or ``ok``), since when and why."""

    def __init__(self, client: Any, collection: str) -> None:
        self._client = client
        self._collection = client.collection(collection)

    def _ref(self, mailbox: str, service: str) -> Any:
        key = f"{mailbox.lower()}:{service}"
        return self._collection.document(hashlib.sha256(key.encode()).hexdigest()[:40])

    def changed(self, mailbox: str, service: str, *, now: datetime, why: str) -> int:
        from google.cloud import firestore

        ref = self._ref(mailbox, service)

        @firestore.transactional  # type: ignore[misc]
        def mark(transaction: Any) -> int:
            stored = ref.get(transaction=transaction).to_dict() or {}
            epoch = int(stored.get("epoch") or 0)
            if stored.get("state") == "changed":
                return epoch
            doc = {"mailbox": mailbox.lower(), "service": service, "state": "changed"}
            transaction.set(ref, {**doc, "epoch": epoch + 1, "since": now, "why": why[:500]})
            return epoch + 1

        return int(_firestore_call("layout marker", lambda: mark(self._client.transaction())))

    def read_fine(self, mailbox: str, service: str, *, now: datetime) -> None:
        from google.cloud import firestore

        ref = self._ref(mailbox, service)
        # Nearly always nothing to end: one plain read, a transaction only after a change.
        stored = _firestore_call("layout marker", lambda: ref.get(timeout=5.0)).to_dict() or {}
        if stored.get("state") != "changed":
            return

        @firestore.transactional  # type: ignore[misc]
        def reset(transaction: Any) -> None:
            stored = ref.get(transaction=transaction).to_dict() or {}
            if stored.get("state") == "changed":
                transaction.update(ref, {"state": "ok", "read_fine_at": now})

        _firestore_call("layout marker", lambda: reset(self._client.transaction()))
