"""Small hot state in Firestore: claim-once keys with an expiry (for a TTL policy).

``claim`` uses ``create()``, which fails with ``AlreadyExists`` when another delivery,
instance or retry got there first: exactly one caller wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from orderhub.errors import TransientError


class Claims(Protocol):
    def claim(self, key: str, data: dict[str, Any], *, now: datetime) -> bool: ...

    def release(self, key: str) -> None: ...


def _doc_id(key: str) -> str:
    # Firestore ids may not contain "/" and may not be "." or "..".
    return key.replace("/", "_")


class FirestoreClaims:
    """Claim-once records in one collection, each with ``expires_at`` for the TTL policy."""

    def __init__(self, client: Any, collection: str, ttl: timedelta) -> None:
        self._collection = client.collection(collection)
        self._ttl = ttl

    def claim(self, key: str, data: dict[str, Any], *, now: datetime) -> bool:
        from google.api_core import exceptions

        record = {**data, "claimed_at": now, "expires_at": now + self._ttl}
        try:
            self._collection.document(_doc_id(key)).create(record, timeout=5.0)
        except exceptions.AlreadyExists:
            return False
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore claim failed: {exc.__class__.__name__}") from exc
        return True

    def release(self, key: str) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(_doc_id(key)).delete(timeout=5.0)
        except exceptions.GoogleAPICallError as exc:
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
