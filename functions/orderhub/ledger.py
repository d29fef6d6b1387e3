"""The notification ledger: one Firestore record per (event, manager), so each manager
gets one message per event however often Pub/Sub delivers it.

A record moves through these states::

    (none) ──create()──▶ sending ──▶ sent | failed | emailed  (final: never sent again)
                           │  ▲
                           ▼  │ retake (compare-and-set on update_time)
                        retrying  ─ or ─  sending whose lease ran out

* ``begin`` claims a record with ``create()``; exactly one caller wins. A caller that
  finds a final record does nothing; one that finds ``retrying`` (a send that ManyChat
  refused for now) or a ``sending`` older than the lease (its sender died before
  recording an outcome) takes it over with a precondition on the document's
  ``update_time``, so two racing redeliveries cannot both take it. A ``sending`` within
  its lease belongs to a live sender: the caller reports ``busy`` and retries later.
* ``finish`` records the outcome (``finish(key, "sending", {"busy_until": t})`` keeps the
  claim busy until ``t`` whatever the lease: an outcome that is not known yet);
  ``mark_logged`` notes that the outcome row reached BigQuery, so a redelivery after a
  failed row insert writes the row (and only that).

A crash between ManyChat's 200 and ``finish`` is the one window where a manager can get
a second message (after the lease); ManyChat offers no idempotency key to close it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from orderhub.errors import TransientError

#: ``emailed`` / ``pushed``: Messenger refused (window closed) and the e-mail fallback /
#: Web Push (to the phones the manager subscribed in the CRM app) delivered it.
FINAL_STATES = ("sent", "failed", "emailed", "pushed")
BeginKind = Literal["new", "retake", "done", "busy"]


@dataclass(frozen=True)
class Begin:
    kind: BeginKind
    attempt: int
    record: dict[str, Any]


class Ledger(Protocol):
    def begin(
        self, key: str, data: dict[str, Any], *, now: datetime, lease: timedelta
    ) -> Begin: ...

    def finish(self, key: str, state: str, fields: dict[str, Any], *, now: datetime) -> None: ...

    def mark_logged(self, key: str) -> None: ...


def _doc_id(key: str) -> str:
    return key.replace("/", "_")


class FirestoreLedger:
    """``Ledger`` in one Firestore collection; ``expires_at`` serves a TTL policy."""

    def __init__(self, client: Any, collection: str, ttl: timedelta) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._ttl = ttl

    def begin(self, key: str, data: dict[str, Any], *, now: datetime, lease: timedelta) -> Begin:
        from google.api_core import exceptions

        doc = self._collection.document(_doc_id(key))
        record = {
            **data,
            "state": "sending",
            "attempt": 1,
            "started_at": now,
            "logged": False,
            "expires_at": now + self._ttl,
        }
        try:
            doc.create(record, timeout=5.0)
            return Begin("new", 1, record)
        except exceptions.AlreadyExists:
            pass
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore claim failed: {exc.__class__.__name__}") from exc
        try:
            snapshot = doc.get(timeout=5.0)
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore read failed: {exc.__class__.__name__}") from exc
        if not snapshot.exists:  # expired between create() and get(): try again later
            return Begin("busy", 0, {})
        current = snapshot.to_dict() or {}
        attempt = int(current.get("attempt") or 1)
        state = current.get("state")
        if state in FINAL_STATES:
            return Begin("done", attempt, current)
        started = current.get("started_at")
        if state == "sending" and started is not None and started + lease > now:
            return Begin("busy", attempt, current)
        held_until = current.get("busy_until")  # a holder asked for longer than the lease
        if state == "sending" and held_until is not None and held_until > now:
            return Begin("busy", attempt, current)
        attempt += 1
        change = {"state": "sending", "attempt": attempt, "started_at": now}
        try:
            doc.update(
                change,
                option=self._client.write_option(last_update_time=snapshot.update_time),
                timeout=5.0,
            )
        except exceptions.FailedPrecondition:
            return Begin("busy", attempt - 1, current)
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore retake failed: {exc.__class__.__name__}") from exc
        return Begin("retake", attempt, {**current, **change})

    def finish(self, key: str, state: str, fields: dict[str, Any], *, now: datetime) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(_doc_id(key)).update(
                {**fields, "state": state, "finished_at": now}, timeout=5.0
            )
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore update failed: {exc.__class__.__name__}") from exc

    def mark_logged(self, key: str) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(_doc_id(key)).update({"logged": True}, timeout=5.0)
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore update failed: {exc.__class__.__name__}") from exc

    def forget(self, key: str) -> None:
        """Delete the record (a sync link whose CRM record was deleted)."""
        from google.api_core import exceptions

        try:
            self._collection.document(_doc_id(key)).delete(timeout=5.0)
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore delete failed: {exc.__class__.__name__}") from exc

    def get(self, key: str) -> dict[str, Any] | None:
        """The record as stored (for scripts and tests)."""
        snapshot = self._collection.document(_doc_id(key)).get(timeout=5.0)
        return snapshot.to_dict() if snapshot.exists else None
