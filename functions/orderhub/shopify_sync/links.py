"""Firestore state of the outbound sync: CRM id → Shopify id, and each shop's order rate.

**Links.** One document per (shop, kind, source, CRM id) in ``{prefix}shopify_links``, kept
with ``orderhub.ledger``'s claim protocol: ``begin`` claims the write (``create()``: one
caller wins; a claim whose holder died is retaken after its lease), ``finish`` records the
Shopify id as soon as Shopify answered. A claim that finds the record final does nothing.
Links do not expire (the collection has no TTL policy).

**Order rate.** Trial and development shops take at most 5 new orders a minute. ``slot``
reserves the next start time in a transaction on ``{prefix}sync_rate/{shop}``, so every
instance of the function shares one schedule and a backlog drains at the allowed rate
instead of hitting Shopify with calls it would refuse.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from orderhub.errors import TransientError
from orderhub.ledger import FirestoreLedger, Ledger

#: Links outlive everything; the field is there only because the ledger writes it.
LINK_TTL = timedelta(days=36500)


class Links(Ledger, Protocol):
    """The ledger of links, which can also be read (``FirestoreLedger`` is one)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def forget(self, key: str) -> None: ...


def link_key(shop: str, kind: str, source: str, record_id: str, crm_shop: str | None = None) -> str:
    """The link of one CRM record in one Shopify shop. ``crm_shop``: the CRM's shop key
    when it is not the Shopify shop (e-mail orders are keyed by their mailbox, and two
    mailboxes may both have an order K-1)."""
    if crm_shop:
        return f"{shop}|{kind}|{crm_shop}|{source}|{record_id}"
    return f"{shop}|{kind}|{source}|{record_id}"


def firestore_links(client: Any, prefix: str) -> FirestoreLedger:
    return FirestoreLedger(client, f"{prefix}shopify_links", LINK_TTL)


class RateWait(TransientError):
    """The shop's next order slot is further away than this delivery may wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Shopify's order rate: next slot in {seconds:.0f} s")
        self.seconds = seconds


class OrderRate(Protocol):
    def slot(self, shop: str, per_minute: float, now: datetime, max_wait: float) -> float:
        """Seconds to wait before this shop's next ``orderCreate``; that slot is reserved.
        ``RateWait`` (nothing reserved) when it is more than ``max_wait`` away."""
        ...


class NoRate:
    def slot(self, shop: str, per_minute: float, now: datetime, max_wait: float) -> float:
        return 0.0


class FirestoreOrderRate:
    def __init__(self, client: Any, collection: str) -> None:
        self._client = client
        self._collection = client.collection(collection)

    def slot(self, shop: str, per_minute: float, now: datetime, max_wait: float) -> float:
        if per_minute <= 0:
            return 0.0
        from google.api_core import exceptions
        from google.cloud import firestore

        gap = timedelta(seconds=60.0 / per_minute)
        doc = self._collection.document(shop)

        @firestore.transactional  # type: ignore[misc]
        def reserve(transaction: Any) -> float:
            snapshot = doc.get(transaction=transaction)
            free = (snapshot.to_dict() or {}).get("next_at") if snapshot.exists else None
            start = max(now, free) if isinstance(free, datetime) else now
            wait = (start - now).total_seconds()
            if wait > max_wait:
                return -wait  # not reserved
            transaction.set(doc, {"next_at": start + gap})
            return wait

        try:
            waited: float = reserve(self._client.transaction())
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"order rate unavailable: {exc.__class__.__name__}") from exc
        if waited < 0:
            raise RateWait(-waited)
        return waited
