"""Small hot state in Firestore: claim-once keys with an expiry (for a TTL policy).

A claim is a ``create``: it fails with ``ALREADY_EXISTS`` when another delivery, instance
or retry got there first, so exactly one caller wins.

Concurrent claims of one instance share one ``BatchWrite`` RPC (``orderhub.groupcommit``).
``BatchWrite`` applies every write on its own and answers a status per write, so a batch
means exactly what the same ``create`` calls made one by one would, at a fraction of the
cost: on this machine, 16 threads claiming fresh keys cost 0.15 ms of client CPU and
0.35 ms of emulator CPU per claim batched, against 0.45 and 0.7 to 1.2 ms one by one.
It allows one write per document, so a key claimed twice at once goes in two batches and
the second caller finds the first's document.

**Time.** Shopify gives a webhook 5 s in all, so a claim gives up ``CLAIM_DEADLINE_S``
after it was asked for (queueing and retries included) and the webhook answers 503 while
Shopify is still listening. The client library's own default would retry an unreachable
Firestore for 60 s and then raise ``RetryError``, which is not a ``GoogleAPICallError``.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from orderhub.errors import TransientError
from orderhub.groupcommit import GroupCommit

#: The most a claim (or release) may take, queueing and retries included.
CLAIM_DEADLINE_S = 2.0

#: Firestore's limit of writes in one ``BatchWrite``.
MAX_BATCH = 500

_ALREADY_EXISTS = 6  # google.rpc.Code


class Claims(Protocol):
    def claim(self, key: str, data: dict[str, Any], *, now: datetime) -> bool: ...

    def release(self, key: str) -> None: ...


def _doc_id(key: str) -> str:
    # Firestore ids may not contain "/" and may not be "." or "..".
    return key.replace("/", "_")


def bounded_retry(timeout: float) -> Any:
    """The library's retry of transient errors, given up after ``timeout`` seconds in all
    (its default keeps retrying an unreachable service for a minute or more)."""
    from google.api_core import retry

    return retry.Retry(
        initial=0.05,
        maximum=0.5,
        multiplier=2.0,
        timeout=timeout,
        predicate=retry.if_transient_error,
    )


@functools.cache
def _retry() -> Any:
    return bounded_retry(CLAIM_DEADLINE_S)


def _transient(what: str, exc: BaseException) -> TransientError:
    return TransientError(f"Firestore {what} failed: {exc.__class__.__name__}")


@dataclass(frozen=True)
class ClaimRequest:
    """One claim, ready to write: the document and the record (with its token)."""

    doc_id: str
    record: dict[str, Any]

    @property
    def token(self) -> str:
        return str(self.record["token"])


class FirestoreClaims:
    """Claim-once records in one collection, each with ``expires_at`` for the TTL policy.

    Thread-safe; one object per instance lets its concurrent claims share RPCs
    (``batch_sizes`` counts them). ``request``, ``create_all`` and ``release_all`` are the
    same steps for callers that batch claims together with other work.
    """

    def __init__(self, client: Any, collection: str, ttl: timedelta) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._ttl = ttl
        self._group: GroupCommit[ClaimRequest, bool] = GroupCommit(
            self.create_all, max_items=MAX_BATCH
        )

    @property
    def batch_sizes(self) -> Counter[int]:
        return self._group.batch_sizes

    def request(self, key: str, data: dict[str, Any], *, now: datetime) -> ClaimRequest:
        # The token tells "someone else holds it" from "our own earlier attempt landed":
        # a write whose answer was lost (timeout, retry) must not read as a duplicate,
        # or the delivery would be dropped by us and never retried by Shopify.
        record = {
            **data,
            "claimed_at": now,
            "expires_at": now + self._ttl,
            "token": uuid.uuid4().hex,
        }
        return ClaimRequest(_doc_id(key), record)

    def claim(self, key: str, data: dict[str, Any], *, now: datetime) -> bool:
        request = self.request(key, data, now=now)
        return self._group.submit(request, key=request.doc_id, deadline_s=CLAIM_DEADLINE_S)

    def release(self, key: str) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(_doc_id(key)).delete(retry=_retry(), timeout=CLAIM_DEADLINE_S)
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("release", exc) from exc

    def create_all(
        self, requests: list[ClaimRequest], budget: float
    ) -> list[bool | TransientError]:
        """One ``BatchWrite`` of creates (distinct documents): per request, won or not, or
        the error for that one; raises ``TransientError`` if the RPC itself failed."""
        from google.api_core import exceptions
        from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

        writes = BulkWriteBatch(self._client)
        for request in requests:
            writes.create(self._collection.document(request.doc_id), request.record)
        started = time.monotonic()
        try:
            response = writes.commit(retry=_retry().with_timeout(budget), timeout=budget)
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("claim", exc) from exc

        outcomes: list[bool | TransientError] = []
        taken: list[int] = []
        for index, status in enumerate(response.status):
            if status.code == 0:
                outcomes.append(True)
            elif status.code == _ALREADY_EXISTS:
                outcomes.append(False)  # unless the holder is an earlier attempt of ours
                taken.append(index)
            else:
                outcomes.append(TransientError(f"Firestore claim failed: code {status.code}"))
        if taken:
            left = budget - (time.monotonic() - started)
            held = self._tokens([requests[i].doc_id for i in taken], left)
            for index in taken:
                token = held.get(requests[index].doc_id)
                outcomes[index] = (
                    token if isinstance(token, TransientError) else token == requests[index].token
                )
        return outcomes

    def _tokens(self, doc_ids: list[str], budget: float) -> dict[str, Any]:
        """The ``token`` of each existing document (or the error, for all of them)."""
        from google.api_core import exceptions

        budget = max(budget, 0.1)
        refs = [self._collection.document(doc_id) for doc_id in doc_ids]
        try:
            snapshots = self._client.get_all(
                refs, field_paths=["token"], retry=_retry().with_timeout(budget), timeout=budget
            )
            return {s.id: s.get("token") if s.exists else None for s in snapshots}
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            error = _transient("claim check", exc)
            return dict.fromkeys(doc_ids, error)

    def release_all(self, requests: list[ClaimRequest], budget: float) -> None:
        """Delete these claims in one ``BatchWrite``, so a retry of theirs can claim again."""
        from google.api_core import exceptions
        from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

        deletes = BulkWriteBatch(self._client)
        for request in requests:
            deletes.delete(self._collection.document(request.doc_id))
        budget = max(budget, 0.1)
        try:
            deletes.commit(retry=_retry().with_timeout(budget), timeout=budget)
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise _transient("release", exc) from exc


class FirestoreCursors:
    """Sync cursors (``updated_at`` high-water marks) per shop and resource."""

    def __init__(self, client: Any, collection: str) -> None:
        self._collection = client.collection(collection)

    def _doc(self, shop: str, resource: str) -> Any:
        return self._collection.document(_doc_id(f"{shop}:{resource}"))

    def get(self, shop: str, resource: str) -> datetime | None:
        snapshot = self._doc(shop, resource).get(timeout=10.0)
        if not snapshot.exists:
            return None
        value = snapshot.to_dict().get("updated_at")
        return value if isinstance(value, datetime) else None

    def set(self, shop: str, resource: str, value: datetime) -> None:
        self._doc(shop, resource).set({"updated_at": value}, timeout=10.0)
