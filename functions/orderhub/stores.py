"""Small hot state in Firestore: claim-once keys with an expiry (for a TTL policy).

``claim`` uses ``create()``, which fails with ``AlreadyExists`` when another delivery,
instance or retry got there first: exactly one caller wins.

Time matters here: Shopify gives a webhook 5 s in all, so a claim gives up after
``CLAIM_DEADLINE_S`` (retries included) and the webhook answers 503 while Shopify is still
listening. The client library's own default would retry an unreachable Firestore for 60 s
and then raise ``RetryError``, which is not a ``GoogleAPICallError``.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

from orderhub.errors import TransientError

#: The most a claim (or release) may take, retries included.
CLAIM_DEADLINE_S = 2.0


class Claims(Protocol):
    def claim(self, key: str, data: dict[str, Any], *, now: datetime) -> bool: ...

    def release(self, key: str) -> None: ...


def _doc_id(key: str) -> str:
    # Firestore ids may not contain "/" and may not be "." or "..".
    return key.replace("/", "_")


@functools.cache
def _retry() -> Any:
    from google.api_core import retry

    return retry.Retry(
        initial=0.05,
        maximum=0.5,
        multiplier=2.0,
        timeout=CLAIM_DEADLINE_S,
        predicate=retry.if_transient_error,
    )


class FirestoreClaims:
    """Claim-once records in one collection, each with ``expires_at`` for the TTL policy."""

    def __init__(self, client: Any, collection: str, ttl: timedelta) -> None:
        self._collection = client.collection(collection)
        self._ttl = ttl

    def claim(self, key: str, data: dict[str, Any], *, now: datetime) -> bool:
        from google.api_core import exceptions

        # The token tells "someone else holds it" from "our own earlier attempt landed":
        # a commit whose answer was lost (timeout, retry) must not read as a duplicate,
        # or the delivery would be dropped by us and never retried by Shopify.
        token = uuid.uuid4().hex
        record = {**data, "claimed_at": now, "expires_at": now + self._ttl, "token": token}
        document = self._collection.document(_doc_id(key))
        try:
            try:
                document.create(record, retry=_retry(), timeout=CLAIM_DEADLINE_S)
            except exceptions.AlreadyExists:
                held = document.get(["token"], retry=_retry(), timeout=CLAIM_DEADLINE_S)
                return bool(held.exists and held.get("token") == token)
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"Firestore claim failed: {exc.__class__.__name__}") from exc
        return True

    def release(self, key: str) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(_doc_id(key)).delete(retry=_retry(), timeout=CLAIM_DEADLINE_S)
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"Firestore release failed: {exc.__class__.__name__}") from exc


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
