"""What needs a manager: marks on quarantined items, and "read again" for e-mails.

* ``attention_marks/{quarantine event id}`` (the app's own Firestore database): ``handled``
  ``by`` whom, ``at`` when, and any ``note``; a replay records what it published. The
  quarantine itself (BigQuery, append-only) is never changed.
* A quarantined e-mail is read again from its verbatim copy in ``raw_events`` through the
  rules shipped today (``sources.mail.message_events``, the very path ``gmail_ingest`` takes),
  and each order it now yields is published. An order's event id derives from the mail's
  service, mailbox, order number and time, never from the clock, so reading a mail again
  twice (or racing the mailbox's own catch-up) publishes the same event, which the
  consumers collapse: one order.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from orderhub.errors import TransientError
from orderhub.event import Event

RAW_EMAIL_KIND = "gmail_message"


class Bus(Protocol):
    def publish(self, event: Event) -> str: ...


class NotReplayable(ValueError):
    """The item is not a stored e-mail (a Shopify payload is fixed at its source)."""


@dataclass(frozen=True)
class Replay:
    published: tuple[str, ...]  # order ids
    event_ids: tuple[str, ...]
    still_quarantined: str | None  # the reasons, if part of the mail still cannot be read
    ignored: bool = False  # no rule knows the mail any more


def _message(raw: dict[str, Any]) -> dict[str, Any]:
    meta = raw.get("meta") or {}
    if isinstance(meta, str):
        meta = json.loads(meta or "{}")
    if not meta.get("gmail_message_id"):
        raise NotReplayable("only e-mails can be read again")
    body = str(raw.get("body") or "")
    data = base64.b64decode(body) if meta.get("encoding") == "base64" else body.encode("utf-8")
    received = raw.get("received_at")
    if isinstance(received, str):
        received = datetime.fromisoformat(received.replace("Z", "+00:00"))
    message: dict[str, Any] = {
        "id": str(meta["gmail_message_id"]),
        "threadId": str(meta.get("gmail_thread_id") or ""),
        "raw": base64.urlsafe_b64encode(data).decode("ascii").rstrip("="),
    }
    if isinstance(received, datetime):
        message["internalDate"] = str(int(received.astimezone(UTC).timestamp() * 1000))
    return message


def replay_mail(raw: dict[str, Any], *, rules: Sequence[Any], bus: Bus, now: datetime) -> Replay:
    """Read a stored e-mail again with ``rules`` and publish every order it yields."""
    from orderhub.sources import mail as gmail

    if raw.get("kind") != RAW_EMAIL_KIND:
        raise NotReplayable("only e-mails can be read again")
    triples = gmail.message_events(
        mailbox=str(raw["shop"]), message=_message(raw), rules=rules, now=now
    )
    orders: list[str] = []
    event_ids: list[str] = []
    reasons: list[str] = []
    for outcome, event, reason in triples:
        if outcome == "order" and event is not None:
            bus.publish(event)  # TransientError propagates: nothing is marked handled
            orders.append(str(event["entity_id"]))
            event_ids.append(str(event["event_id"]))
        elif outcome == "quarantined" and reason:
            reasons.append(reason)
    ignored = bool(triples) and all(outcome == "ignored" for outcome, _e, _r in triples)
    return Replay(tuple(orders), tuple(event_ids), "; ".join(reasons) or None, ignored)


class Marks(Protocol):
    def get_many(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def mark(self, item_id: str, record: dict[str, Any]) -> None: ...


class FirestoreMarks:
    """``attention_marks`` in the app's own database."""

    def __init__(self, client: Any, collection: str) -> None:
        self._client = client
        self._collection = client.collection(collection)

    def get_many(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        from google.api_core import exceptions

        if not ids:
            return {}
        refs = [self._collection.document(i) for i in ids]
        try:
            snaps = self._client.get_all(refs, timeout=5.0)
            return {s.id: s.to_dict() or {} for s in snaps if s.exists}
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"Firestore marks read failed: {exc.__class__.__name__}") from exc

    def mark(self, item_id: str, record: dict[str, Any]) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(item_id).set(record, merge=True, timeout=5.0)
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"Firestore mark failed: {exc.__class__.__name__}") from exc


def mark_handled(marks: Marks, item_id: str, *, by: str, now: datetime, note: str = "") -> None:
    marks.mark(item_id, {"handled": True, "by": by, "at": now, "note": note[:500]})


def record_replay(marks: Marks, item_id: str, replay: Replay, *, by: str, now: datetime) -> None:
    record: dict[str, Any] = {
        "replayed_by": by,
        "replayed_at": now,
        "replayed_orders": list(replay.published),
    }
    if replay.published and not replay.still_quarantined:
        record |= {"handled": True, "by": by, "at": now, "note": "read again: order published"}
    marks.mark(item_id, record)
