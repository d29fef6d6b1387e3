"""The order form's state in Firestore: managers, sign-in failure counters, payment links.

* ``managers/{id}``: ``name``, ``password_hash``, ``active``, timestamps, ``signed_out_at``
  (sessions signed in before it are over: signing out ends the manager's sessions on every
  device). Managers are added, changed and removed with ``scripts/manager`` (or in the
  console): no redeploy needed.
* ``signin_throttle/{sha256 of kind:value}``: consecutive failures and ``locked_until``
  per manager name and per client address; the ids are hashes, so no address is stored.
* ``draft_links/{form token}``: the draft order created for one rendering of the form,
  so a double tap returns the same checkout link instead of making a second draft.

Every document that is only transient carries ``expires_at`` for a Firestore TTL policy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orderhub.errors import TransientError
from orderhub.orderform.auth import delay_after

TIMEOUT_S = 5.0


def _transient(what: str, exc: Exception) -> TransientError:
    return TransientError(f"Firestore {what} failed: {exc.__class__.__name__}")


@dataclass(frozen=True)
class Manager:
    id: str
    name: str
    password_hash: str
    active: bool = True
    signed_out_at: datetime | None = None

    def session_ended(self, issued_ms: int) -> bool:
        """True if a session signed in at ``issued_ms`` was ended by a later sign-out."""
        if self.signed_out_at is None:
            return False
        return issued_ms <= int(self.signed_out_at.timestamp() * 1000)


class FirestoreManagers:
    def __init__(self, client: Any, collection: str) -> None:
        self._collection = client.collection(collection)

    def get(self, manager_id: str) -> Manager | None:
        from google.api_core import exceptions

        if not manager_id:  # not a valid sign-in name: nobody
            return None
        try:
            snapshot = self._collection.document(manager_id).get(timeout=TIMEOUT_S)
        except exceptions.GoogleAPICallError as exc:
            raise _transient("manager read", exc) from exc
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        if not isinstance(data.get("password_hash"), str):
            return None
        signed_out = data.get("signed_out_at")
        return Manager(
            id=manager_id,
            name=str(data.get("name") or manager_id),
            password_hash=data["password_hash"],
            active=bool(data.get("active", True)),
            signed_out_at=signed_out if isinstance(signed_out, datetime) else None,
        )

    def sign_out(self, manager_id: str, *, now: datetime) -> None:
        """End every session of this manager signed in until now."""
        from google.api_core import exceptions

        try:
            self._collection.document(manager_id).update({"signed_out_at": now}, timeout=TIMEOUT_S)
        except exceptions.NotFound:
            pass  # removed meanwhile: no session of theirs is valid anyway
        except exceptions.GoogleAPICallError as exc:
            raise _transient("sign-out", exc) from exc

    def put(self, manager: Manager, *, now: datetime) -> None:
        self._collection.document(manager.id).set(
            {
                "name": manager.name,
                "password_hash": manager.password_hash,
                "active": manager.active,
                "updated_at": now,
            },
            timeout=TIMEOUT_S,
        )

    def delete(self, manager_id: str) -> None:
        self._collection.document(manager_id).delete(timeout=TIMEOUT_S)

    def list(self) -> list[Manager]:
        found = []
        for snapshot in self._collection.stream(timeout=TIMEOUT_S):
            data = snapshot.to_dict() or {}
            found.append(
                Manager(
                    id=snapshot.id,
                    name=str(data.get("name") or snapshot.id),
                    password_hash=str(data.get("password_hash") or ""),
                    active=bool(data.get("active", True)),
                )
            )
        return found


def throttle_keys(manager_id: str, client_ip: str) -> list[tuple[str, str]]:
    """(kind, document id) pairs counted for one sign-in attempt.

    A name is counted per client address: failures typed by a stranger must not lock a
    manager out of taking phone orders (passwords are long and scrypt-hashed, so spreading
    guesses over many addresses gains nothing). Each address is counted on its own too.
    """

    def key(kind: str, value: str) -> str:
        return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:40]

    return [
        ("manager", key("manager", f"{manager_id}@{client_ip}")),
        ("ip", key("ip", client_ip)),
    ]


class FirestoreThrottle:
    """Sign-in attempts with exponential backoff, counted before the password is checked.

    ``attempt`` is one transaction over every key of a sign-in: if any is locked it
    answers the wait and counts nothing; otherwise it counts the attempt as a failure and
    sets the lock the next attempt meets. So parallel guesses serialise on the counter and
    no more get through than one after another would; ``succeeded`` takes the attempt back.
    """

    def __init__(self, client: Any, collection: str, *, ttl: timedelta = timedelta(days=1)):
        self._client = client
        self._collection = client.collection(collection)
        self._ttl = ttl

    def attempt(self, keys: list[tuple[str, str]], *, now: datetime) -> float:
        """Seconds to wait before trying again (nothing counted), or 0: the attempt may
        go ahead and is counted as failed until ``succeeded``."""
        from google.api_core import exceptions
        from google.cloud import firestore

        refs = [(kind, self._collection.document(doc_id)) for kind, doc_id in keys]

        @firestore.transactional  # type: ignore[untyped-decorator]
        def count(transaction: Any) -> float:
            state = {
                ref.id: (snap.to_dict() or {}) if snap.exists else {}
                for ref, snap in ((ref, ref.get(transaction=transaction)) for _, ref in refs)
            }
            wait = max(
                ((d["locked_until"] - now).total_seconds() for d in state.values() if d),
                default=0.0,
            )
            if wait > 0:
                return wait
            for kind, ref in refs:
                failures = int(state[ref.id].get("failures", 0)) + 1
                transaction.set(ref, self._record(kind, failures, now))
            return 0.0

        try:
            return float(count(self._client.transaction()))
        except (exceptions.GoogleAPICallError, ValueError) as exc:
            # ValueError: the transaction kept meeting concurrent attempts and gave up.
            raise _transient("throttle update", exc) from exc

    def succeeded(self, keys: list[tuple[str, str]], *, now: datetime) -> None:
        """Clear the manager's counter; take this attempt back from the address's."""
        from google.api_core import exceptions
        from google.cloud import firestore

        @firestore.transactional  # type: ignore[untyped-decorator]
        def take_back(transaction: Any, ref: Any, kind: str) -> None:
            snapshot = ref.get(transaction=transaction)
            failures = int((snapshot.to_dict() or {}).get("failures", 1)) - 1
            if failures <= 0:
                transaction.delete(ref)
            else:
                transaction.set(ref, self._record(kind, failures, now))

        try:
            for kind, doc_id in keys:
                ref = self._collection.document(doc_id)
                if kind == "manager":
                    ref.delete(timeout=TIMEOUT_S)
                else:
                    take_back(self._client.transaction(), ref, kind)
        except (exceptions.GoogleAPICallError, ValueError) as exc:
            raise _transient("throttle reset", exc) from exc

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
        except exceptions.GoogleAPICallError as exc:
            raise _transient("draft link claim", exc) from exc
        return True

    def finish(self, token: str, result: dict[str, str]) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(token).update({"status": "done", **result}, timeout=TIMEOUT_S)
        except exceptions.GoogleAPICallError as exc:
            raise _transient("draft link record", exc) from exc

    def get(self, token: str) -> dict[str, Any] | None:
        from google.api_core import exceptions

        try:
            snapshot = self._collection.document(token).get(timeout=TIMEOUT_S)
        except exceptions.GoogleAPICallError as exc:
            raise _transient("draft link read", exc) from exc
        return (snapshot.to_dict() or {}) if snapshot.exists else None

    def abandon(self, token: str) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(token).delete(timeout=TIMEOUT_S)
        except exceptions.GoogleAPICallError as exc:
            raise _transient("draft link release", exc) from exc
