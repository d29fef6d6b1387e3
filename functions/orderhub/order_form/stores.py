"""The order form's state in Firestore: managers, sign-in failure counters, payment links.

* ``managers/{id}``: ``name``, ``password_hash``, ``active``, timestamps. Managers are added,
  changed and removed with ``scripts/manager`` (or in the console): no redeploy needed. In
  production they are in a Firestore database of their own (``MANAGERS_DATABASE``) that the
  form may only read, so the form cannot rewrite a password hash.
* ``manager_signouts/{id}``: ``signed_out_at`` (sessions signed in before it are over:
  "sign out everywhere" ends the manager's sessions on every device) and ``ended_sessions``
  (a map: digest of a session id → when it was signed out: "sign out" ends that one
  session, this device's; entries older than the longest session are dropped when the
  next one is added), in the form's own database.
* ``signin_throttle/{sha256 of kind:value}``: consecutive failures and ``locked_until``
  per manager name at a client address, per client address, and per manager name from
  browsers without the manager's device cookie; the ids are hashes, so no address is stored.
* ``order_form_claims/{form token}``: one order per rendering of the form. A claim is
  ``pending`` until its publish is confirmed (``published``); a pending claim older than
  ``FORM_CLAIM_LEASE`` is taken again, so a publish that failed (or a run that died) after
  the claim never turns the manager's retry into a false "already saved".
* ``draft_links/{form token}``: the draft order created for one rendering of the form,
  so a double tap returns the same checkout link instead of making a second draft.

Every document that is only transient carries ``expires_at`` for a Firestore TTL policy.
"""

from __future__ import annotations

import functools
import hashlib
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orderhub.errors import TransientError
from orderhub.order_form.sessions import delay_after
from orderhub.stores import bounded_retry

#: A pending form claim older than this is someone's failed or dead attempt: taken again.
FORM_CLAIM_LEASE = timedelta(seconds=60)

#: The most one store call may take, retries included: a manager is waiting on the page.
#: (The client library's default would retry an unreachable Firestore for a minute.)
TIMEOUT_S = 5.0


@functools.cache
def _retry() -> Any:
    return bounded_retry(TIMEOUT_S)


def _bounded() -> dict[str, Any]:
    """Keyword arguments that bound a call: ``retry`` and ``timeout``."""
    return {"retry": _retry(), "timeout": TIMEOUT_S}


def _transient(what: str, exc: Exception) -> TransientError:
    return TransientError(f"Firestore {what} failed: {exc.__class__.__name__}")


@dataclass(frozen=True)
class Manager:
    id: str
    name: str
    password_hash: str
    active: bool = True
    signed_out_at: datetime | None = None
    #: ``manager`` (orders, customers, the form) or ``owner`` (also settings); set with
    #: ``scripts/manager add NAME --owner``. Anything else reads as ``manager``.
    role: str = "manager"
    #: Digests (``sessions.sid_digest``) of single sessions that were signed out.
    ended_sessions: frozenset[str] = frozenset()

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    def session_ended(self, issued_ms: int) -> bool:
        """True if a session signed in at ``issued_ms`` was ended by a later sign-out."""
        if self.signed_out_at is None:
            return False
        return issued_ms <= int(self.signed_out_at.timestamp() * 1000)


class FirestoreAccounts:
    """The managers' sign-in accounts (not the notify list: ``orderhub.managers``) from
    ``collection``; sign-outs in ``signouts`` (a collection reference, on a
    database the caller may write) when given, else on the manager's own document."""

    def __init__(self, client: Any, collection: str, *, signouts: Any = None) -> None:
        self._collection = client.collection(collection)
        self._signouts = signouts

    def get(self, manager_id: str) -> Manager | None:
        from google.api_core import exceptions

        if not manager_id:  # not a valid sign-in name: nobody
            return None
        try:
            snapshot = self._collection.document(manager_id).get(**_bounded())
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("manager read", exc) from exc
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        if not isinstance(data.get("password_hash"), str):
            return None
        signed_out = data.get("signed_out_at")
        ended = data.get("ended_sessions")
        if self._signouts is not None:
            try:
                mark = self._signouts.document(manager_id).get(**_bounded())
            except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
                raise _transient("sign-out read", exc) from exc
            if mark.exists:
                marks = mark.to_dict() or {}
                signed_out, ended = marks.get("signed_out_at"), marks.get("ended_sessions")
        return Manager(
            id=manager_id,
            name=str(data.get("name") or manager_id),
            password_hash=data["password_hash"],
            active=bool(data.get("active", True)),
            signed_out_at=signed_out if isinstance(signed_out, datetime) else None,
            role="owner" if data.get("role") == "owner" else "manager",
            ended_sessions=frozenset(ended) if isinstance(ended, dict) else frozenset(),
        )

    def end_session(
        self, manager_id: str, sid_digest: str, *, now: datetime, keep: timedelta
    ) -> None:
        """End one session (this device's); forget ended sessions older than ``keep`` (the
        longest a session lives: they are over by themselves)."""
        from google.api_core import exceptions
        from google.cloud import firestore

        document = (self._signouts or self._collection).document(manager_id)
        try:
            snapshot = document.get(**_bounded())
            ended = (snapshot.to_dict() or {}).get("ended_sessions") if snapshot.exists else None
            changes: dict[str, Any] = {f"ended_sessions.{sid_digest}": now}
            for digest, at in (ended or {}).items():
                if isinstance(at, datetime) and at < now - keep:
                    changes[f"ended_sessions.{digest}"] = firestore.DELETE_FIELD
            if self._signouts is not None and not snapshot.exists:
                document.set({"ended_sessions": {sid_digest: now}}, **_bounded())
            else:
                document.update(changes, **_bounded())
        except exceptions.NotFound:
            pass  # removed meanwhile: no session of theirs is valid anyway
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("sign-out", exc) from exc

    def sign_out(self, manager_id: str, *, now: datetime) -> None:
        """End every session of this manager signed in until now (on every device)."""
        from google.api_core import exceptions

        try:
            if self._signouts is not None:
                self._signouts.document(manager_id).set({"signed_out_at": now}, **_bounded())
                return
            self._collection.document(manager_id).update({"signed_out_at": now}, **_bounded())
        except exceptions.NotFound:
            pass  # removed meanwhile: no session of theirs is valid anyway
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("sign-out", exc) from exc

    def put(self, manager: Manager, *, now: datetime) -> None:
        self._collection.document(manager.id).set(
            {
                "name": manager.name,
                "password_hash": manager.password_hash,
                "active": manager.active,
                "role": manager.role,
                "updated_at": now,
            },
            timeout=TIMEOUT_S,
        )

    def set_password_hash(self, manager_id: str, password_hash: str, *, now: datetime) -> None:
        """Replace the stored hash (a rehash at today's cost, after a successful sign-in)."""
        from google.api_core import exceptions

        try:
            self._collection.document(manager_id).update(
                {"password_hash": password_hash, "updated_at": now}, **_bounded()
            )
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("password rehash", exc) from exc

    def delete(self, manager_id: str) -> None:
        self._collection.document(manager_id).delete(**_bounded())

    def list(self) -> list[Manager]:
        found = []
        for snapshot in self._collection.stream(**_bounded()):
            data = snapshot.to_dict() or {}
            found.append(
                Manager(
                    id=snapshot.id,
                    name=str(data.get("name") or snapshot.id),
                    password_hash=str(data.get("password_hash") or ""),
                    active=bool(data.get("active", True)),
                    role="owner" if data.get("role") == "owner" else "manager",
                )
            )
        return found


def throttle_keys(
    manager_id: str, client_ip: str, *, known_device: bool = False
) -> list[tuple[str, str]]:
    """(kind, document id) pairs counted for one sign-in attempt.

    ``client_ip`` is the bucket from ``order_form.client`` (an address, or an IPv6 /64).
    A name is counted per client address (``manager``: locks that address out of that
    name), each address on its own (``ip``), and, from a browser without the manager's
    device cookie, the name from everywhere (``name``: slows guessing spread over many
    addresses down to one try a minute, but the manager's own browser is never held up
    by it, so a stranger cannot lock a manager out by guessing their name).
    """

    def key(kind: str, value: str) -> str:
        return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:40]

    keys = [
        ("manager", key("manager", f"{manager_id}@{client_ip}")),
        ("ip", key("ip", client_ip)),
    ]
    if not known_device:
        keys.append(("name", key("name", manager_id)))
    return keys


#: Turns a sign-in takes on counters that other sign-ins change at the same moment (the
#: managers of one office share their address's counter) before it answers "try again".
ATTEMPT_TURNS = 8


class _Raced(TransientError):
    """A compare-and-set lost to another sign-in: read again and retry."""


class FirestoreThrottle:
    """Sign-in attempts with exponential backoff, counted before the password is checked.

    ``attempt`` reads every key of a sign-in: if any is locked it answers the wait and
    counts nothing; otherwise it counts the attempt as a failure, and sets the lock the
    next attempt meets, in one batch that only applies if no key changed since it was read
    (compare-and-set on each document's update time). So parallel attempts serialise on the
    counters: one that loses the race reads again and counts on top of the winner (up to
    ``ATTEMPT_TURNS`` times, then ``TransientError``, a 503 "try again"), so managers of
    one office signing in at once all get through, and parallel guesses get no more
    password checks than one after another would. ``succeeded``
    takes the attempt back. Every call is bounded by ``TIMEOUT_S``.
    """

    def __init__(self, client: Any, collection: str, *, ttl: timedelta = timedelta(days=1)):
        self._client = client
        self._collection = client.collection(collection)
        self._ttl = ttl

    def attempt(self, keys: list[tuple[str, str]], *, now: datetime) -> float:
        """Seconds to wait before trying again (nothing counted), or 0: the attempt may
        go ahead and is counted as failed until ``succeeded``."""
        refs = [(kind, self._collection.document(doc_id)) for kind, doc_id in keys]
        for turn in range(ATTEMPT_TURNS):
            snapshots = self._read([ref for _, ref in refs])
            wait = 0.0
            for snapshot in snapshots.values():
                data = (snapshot.to_dict() or {}) if snapshot.exists else {}
                locked = data.get("locked_until")
                if locked is not None and locked > now:
                    wait = max(wait, (locked - now).total_seconds())
            if wait > 0:
                return wait
            changes = []
            for kind, ref in refs:
                snapshot = snapshots[ref.id]
                failures = int((snapshot.to_dict() or {}).get("failures", 0)) + 1
                changes.append((ref, snapshot, self._record(kind, failures, now)))
            try:
                self._swap(changes, "throttle update")
                return 0.0
            except _Raced:
                # Another sign-in counted on a shared key first (the office's address):
                # read again and count on top of it, after a short random pause.
                time.sleep(random.uniform(0, 0.02 * (turn + 1)))  # noqa: S311 (jitter)
        raise TransientError("throttle update: too many sign-ins at once; try again")

    def succeeded(self, keys: list[tuple[str, str]], *, now: datetime) -> None:
        """Clear the name's counter; take this attempt back from the address's."""
        from google.api_core import exceptions

        for kind, doc_id in keys:
            ref = self._collection.document(doc_id)
            if kind == "manager":
                try:
                    ref.delete(**_bounded())
                except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
                    raise _transient("throttle reset", exc) from exc
                continue
            for _ in range(3):  # another attempt may change it meanwhile: read again
                snapshot = self._read([ref])[ref.id]
                failures = int((snapshot.to_dict() or {}).get("failures", 1)) - 1
                record = self._record(kind, failures, now) if failures > 0 else None
                try:
                    self._swap([(ref, snapshot, record)], "throttle reset")
                    break
                except TransientError:
                    continue  # at worst the attempt stays counted: never fewer than made

    def _read(self, refs: list[Any]) -> dict[str, Any]:
        from google.api_core import exceptions

        try:
            return {s.id: s for s in self._client.get_all(refs, **_bounded())}
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("throttle read", exc) from exc

    def _swap(self, changes: Sequence[tuple[Any, Any, dict[str, Any] | None]], what: str) -> None:
        """Write each new state (None: delete) only if its document is as it was read."""
        from google.api_core import exceptions

        batch = self._client.batch()
        for ref, snapshot, record in changes:
            if not snapshot.exists:
                if record is not None:
                    batch.create(ref, record)  # fails if someone created it meanwhile
                continue
            unchanged = self._client.write_option(last_update_time=snapshot.update_time)
            if record is None:
                batch.delete(ref, option=unchanged)
            else:
                batch.update(ref, record, option=unchanged)
        try:
            batch.commit(**_bounded())
        except (exceptions.FailedPrecondition, exceptions.AlreadyExists) as exc:
            raise _Raced(f"{what}: a concurrent sign-in changed it") from exc
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient(what, exc) from exc

    def _record(self, kind: str, failures: int, now: datetime) -> dict[str, Any]:
        return {
            "kind": kind,
            "failures": failures,
            "locked_until": now + timedelta(seconds=delay_after(failures, kind)),
            "expires_at": now + self._ttl,
        }


class FirestoreDraftLinks:
    """One draft order per form token: ``begin`` claims, ``finish`` records, ``get`` reads."""

    def __init__(self, client: Any, collection: str, ttl: timedelta) -> None:
        self._collection = client.collection(collection)
        self._ttl = ttl

    def begin(self, token: str, *, manager: str, now: datetime) -> bool:
        from google.api_core import exceptions

        try:
            self._collection.document(token).create(
                {
                    "status": "pending",
                    "manager": manager,
                    "claimed_at": now,
                    "expires_at": now + self._ttl,
                },
                timeout=TIMEOUT_S,
            )
        except exceptions.AlreadyExists:
            return False
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("draft link claim", exc) from exc
        return True

    def finish(self, token: str, result: dict[str, str]) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(token).update({"status": "done", **result}, **_bounded())
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("draft link record", exc) from exc

    def get(self, token: str) -> dict[str, Any] | None:
        from google.api_core import exceptions

        try:
            snapshot = self._collection.document(token).get(**_bounded())
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("draft link read", exc) from exc
        return (snapshot.to_dict() or {}) if snapshot.exists else None

    def abandon(self, token: str) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(token).delete(**_bounded())
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("draft link release", exc) from exc


@dataclass(frozen=True)
class Taken:
    """What ``LeasedFirestoreClaims.take`` found: ``won`` (publish now, then ``confirm``),
    ``done`` (published before: a duplicate) or ``busy`` (another attempt is publishing).
    ``at`` is the time of the claim's first attempt, so a retry builds the same event."""

    state: str
    token: str = ""
    at: datetime | None = None


class LeasedFirestoreClaims:
    """One published order per form token: a claim, confirmed after its publish.

    ``take`` creates the claim (``pending``). A claim found ``published`` is a duplicate;
    one found ``pending`` and younger than the lease belongs to an attempt in flight; an
    older pending one is an attempt that failed or died between claim and publish, and is
    taken over (compare-and-set on its update time, so two retries cannot both take it).
    """

    def __init__(
        self, client: Any, collection: str, ttl: timedelta, *, lease: timedelta = FORM_CLAIM_LEASE
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._ttl = ttl
        self._lease = lease

    def take(self, key: str, record: dict[str, Any], *, now: datetime) -> Taken:
        from google.api_core import exceptions

        doc = self._collection.document(key.replace("/", "_"))
        token = uuid.uuid4().hex
        data = {
            **record,
            "status": "pending",
            "claimed_at": now,
            "first_at": now,
            "expires_at": now + self._ttl,
            "token": token,
        }
        try:
            doc.create(data, **_bounded())
            return Taken("won", token, now)
        except exceptions.AlreadyExists:
            pass
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("form claim", exc) from exc
        try:
            snapshot = doc.get(**_bounded())
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("form claim read", exc) from exc
        found = (snapshot.to_dict() or {}) if snapshot.exists else {}
        first = found.get("first_at") if isinstance(found.get("first_at"), datetime) else None
        if found.get("status") == "published":
            return Taken("done", at=first)
        if found.get("token") == token:  # our own create landed; its answer was lost
            return Taken("won", token, first or now)
        claimed = found.get("claimed_at")
        if not snapshot.exists or (isinstance(claimed, datetime) and claimed + self._lease > now):
            return Taken("busy")
        taken_over = {**data, "first_at": first or now}
        unchanged = self._client.write_option(last_update_time=snapshot.update_time)
        try:
            doc.update(taken_over, option=unchanged, **_bounded())
        except exceptions.FailedPrecondition:
            return Taken("busy")  # another retry took it first
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("form claim takeover", exc) from exc
        return Taken("won", token, first or now)

    def confirm(self, key: str, token: str) -> None:
        """Mark the claim published (a later ``take`` answers ``done``)."""
        self._set(key, token, {"status": "published"})

    def release(self, key: str, token: str) -> None:
        """Give a claim whose publish failed back at once (the lease would, later)."""
        self._set(key, token, None)

    def _set(self, key: str, token: str, change: dict[str, Any] | None) -> None:
        from google.api_core import exceptions

        doc = self._collection.document(key.replace("/", "_"))
        try:
            snapshot = doc.get(**_bounded())
            if not snapshot.exists or (snapshot.to_dict() or {}).get("token") != token:
                return  # taken over meanwhile: no longer ours to change
            unchanged = self._client.write_option(last_update_time=snapshot.update_time)
            if change is None:
                doc.delete(option=unchanged, **_bounded())
            else:
                doc.update(change, option=unchanged, **_bounded())
        except exceptions.FailedPrecondition:
            return  # changed meanwhile: someone else's now
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("form claim update", exc) from exc
