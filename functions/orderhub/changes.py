"""The CRM's change marker: one Firestore document per shop that ``crm_writer`` bumps.

``{prefix}crm_changes/{shop}`` holds ``seq`` (incremented on every write that changes what
the orders list shows: an order version, a refund, a manager's action) and ``changed_at``.
The CRM app's list polls ``marker()``, one small Firestore read of the few shop documents,
and runs its BigQuery query only when the marker moved: an open phone costs no BigQuery
job while nothing changes (BigQuery bills at least 10 MB per table a query references).

A bump is a blind ``set(merge=True)`` with ``Increment(1)``: no transaction, so writers
never contend; Firestore applies concurrent increments one by one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from orderhub.errors import TransientError

COLLECTION = "crm_changes"
#: The tables whose rows the orders list shows: a write to one of them moves the marker.
LISTED_TABLES = frozenset({"order_events", "order_actions", "refund_events"})
TIMEOUT_S = 5.0


class FirestoreChanges:
    def __init__(self, client: Any, prefix: str) -> None:
        self._collection = client.collection(f"{prefix}{COLLECTION}")

    def bump(self, shop: str, *, at: datetime) -> None:
        from google.api_core import exceptions
        from google.cloud import firestore

        try:
            self._collection.document(shop).set(
                {"seq": firestore.Increment(1), "changed_at": at}, merge=True, timeout=TIMEOUT_S
            )
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"change marker not bumped: {exc.__class__.__name__}") from exc

    def marker(self) -> str:
        """A short digest of every shop's ``seq``: it changes when any shop's does."""
        from google.api_core import exceptions

        try:
            docs = list(self._collection.stream(timeout=TIMEOUT_S))
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"change marker unreadable: {exc.__class__.__name__}") from exc
        seen = sorted(f"{d.id}={(d.to_dict() or {}).get('seq', 0)}" for d in docs)
        return hashlib.sha256("|".join(seen).encode()).hexdigest()[:16]
