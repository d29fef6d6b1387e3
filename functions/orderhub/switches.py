"""The sync's switches and filters: one Firestore document per shop, read on every run.

``{prefix}sync_settings/{shop}``, changed with ``scripts/sync_settings`` (no redeploy)::

    outbound:  {orders: false, customers: false, consent: false, products: false}  # CRM -> Shopify
    sources:   {"manual": true, "email:*": true}                 # orders, per CRM source
    customer_tag: null          # only customers carrying this CRM tag (null: all)
    customer_tags: []           # a list: only customers carrying one of these tags ([]: all)
    paid_in_shopify: []         # payment types of form orders that get a paid transaction
    consent_required: false     # only customers with marketing consent
    send_receipt: false         # Shopify e-mails the customer a receipt for our orders
    orders_per_minute: 0        # 5 for trial and development shops; 0: no cap of ours
    inbound:   {orders: true, customers: true, products: true}  # Shopify -> CRM, per entity

A missing document means the defaults above: nothing is written into a shop until its
owner switches it on, and everything Shopify sends is taken in. A source not listed falls
back to its family (``email:glovo`` → ``email:*``), then to on. An inbound entity switched
off is *held*, never dropped (``orderhub.inbound``). Readers on a latency path use
``CachedSwitches`` (one read per shop per TTL and instance).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from orderhub.errors import TransientError

ENTITIES = ("orders", "customers", "consent", "products")
#: What the inbound direction (Shopify -> CRM) switches, per shop; refunds go with orders.
INBOUND_ENTITIES = ("orders", "customers", "products")


@dataclass(frozen=True)
class Switches:
    outbound: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(ENTITIES, False))
    sources: dict[str, bool] = field(default_factory=lambda: {"manual": True, "email:*": True})
    customer_tag: str | None = None
    customer_tags: tuple[str, ...] = ()
    paid_in_shopify: tuple[str, ...] = ()
    consent_required: bool = False
    send_receipt: bool = False
    orders_per_minute: float = 0.0
    inbound: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(INBOUND_ENTITIES, True))

    def inbound_on(self, entity: str) -> bool:
        """Is this inbound entity (``orders``, ``customers``, ``products``) taken in?"""
        return self.inbound.get(entity, True)

    @property
    def outbound_orders(self) -> bool:
        return self.outbound.get("orders", False)

    @property
    def outbound_customers(self) -> bool:
        return self.outbound.get("customers", False)

    @property
    def outbound_consent(self) -> bool:
        return self.outbound.get("consent", False)

    @property
    def outbound_products(self) -> bool:
        """Products made or edited in the CRM app go to Shopify (``productSet``)."""
        return self.outbound.get("products", False)

    def source_on(self, source: str) -> bool:
        if source == "shopify":
            return False
        if source in self.sources:
            return bool(self.sources[source])
        family = source.split(":", 1)[0] + ":*"
        return bool(self.sources.get(family, True))

    def to_document(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "customer_tags": list(self.customer_tags),
            "paid_in_shopify": list(self.paid_in_shopify),
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any] | None) -> Switches:
        doc = doc or {}
        base = cls()
        outbound = {**base.outbound, **{k: bool(v) for k, v in (doc.get("outbound") or {}).items()}}
        sources = {**base.sources, **{k: bool(v) for k, v in (doc.get("sources") or {}).items()}}
        inbound = {**base.inbound, **{k: bool(v) for k, v in (doc.get("inbound") or {}).items()}}
        return cls(
            outbound=outbound,
            sources=sources,
            customer_tag=doc.get("customer_tag") or None,
            customer_tags=tuple(str(t) for t in doc.get("customer_tags") or ()),
            paid_in_shopify=tuple(str(t) for t in doc.get("paid_in_shopify") or ()),
            consent_required=bool(doc.get("consent_required", False)),
            send_receipt=bool(doc.get("send_receipt", False)),
            orders_per_minute=float(doc.get("orders_per_minute") or 0),
            inbound=inbound,
        )

    def changed(self, assignments: Mapping[str, str]) -> Switches:
        """A copy with ``path=value`` assignments applied (``outbound.orders=off``,
        ``sources.email:*=on``, ``orders_per_minute=5``); ``ValueError`` on a bad one."""
        doc = self.to_document()
        for path, text in assignments.items():
            head, _, rest = path.partition(".")
            value: Any = _value(text)
            if head in ("outbound", "sources", "inbound"):
                if (
                    not rest
                    or (head == "outbound" and rest not in ENTITIES)
                    or (head == "inbound" and rest not in INBOUND_ENTITIES)
                ):
                    raise ValueError(f"unknown switch {path!r}")
                if not isinstance(value, bool):
                    raise ValueError(f"{path} takes on or off")
                doc[head][rest] = value
            elif head in ("consent_required", "send_receipt"):
                if not isinstance(value, bool):
                    raise ValueError(f"{path} takes on or off")
                doc[head] = value
            elif head == "customer_tag":
                doc[head] = None if value in (None, False) else str(text)
            elif head == "paid_in_shopify":
                kinds = [] if value in (None, False) else str(text).split(",")
                doc[head] = [k.strip() for k in kinds if k.strip()]
            elif head == "customer_tags":
                tags = [] if value in (None, False) else str(text).split(",")
                doc[head] = [t.strip() for t in tags if t.strip()]
            elif head == "orders_per_minute":
                try:
                    doc[head] = float(text)
                except ValueError as exc:
                    raise ValueError("orders_per_minute takes a number (0: no cap)") from exc
            else:
                raise ValueError(f"unknown setting {path!r}")
        return Switches.from_document(doc)


def _value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("on", "true", "yes", "1"):
        return True
    if lowered in ("off", "false", "no", "0"):
        return False
    if lowered in ("none", "null", ""):
        return None
    return text


class FirestoreSwitches:
    """The settings documents, one per shop."""

    def __init__(self, client: Any, collection: str, *, timeout: float = 5.0) -> None:
        self._collection = client.collection(collection)
        self._timeout = timeout

    def get(self, shop: str) -> Switches:
        from google.api_core import exceptions

        from orderhub.stores import bounded_retry

        try:  # retried, but given up within the timeout (the library's default is minutes)
            snapshot = self._collection.document(shop).get(
                retry=bounded_retry(self._timeout), timeout=self._timeout
            )
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"sync settings unreadable: {exc.__class__.__name__}") from exc
        return Switches.from_document(snapshot.to_dict() if snapshot.exists else None)

    def put(self, shop: str, switches: Switches) -> None:
        self._collection.document(shop).set(switches.to_document(), timeout=5.0)


class CachedSwitches:
    """A shop's settings kept for ``ttl_s`` seconds per instance: what a hot path reads.

    A change made with ``scripts/sync_settings`` is seen at most ``ttl_s`` seconds later by
    each instance. When the document cannot be read, the last value is used for as long as
    the outage lasts (and logged by the caller); with no value yet, the read's
    ``TransientError`` propagates (the webhook answers 503 and Shopify retries).
    """

    def __init__(
        self,
        read: Callable[[str], Switches],
        *,
        ttl_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._read, self._ttl, self._clock = read, ttl_s, clock
        self._held: dict[str, tuple[float, Switches]] = {}
        self._lock = threading.Lock()

    def __call__(self, shop: str) -> Switches:
        now = self._clock()
        with self._lock:
            cached = self._held.get(shop)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            value = self._read(shop)
        except TransientError:
            if cached is None:
                raise
            return cached[1]
        with self._lock:
            self._held[shop] = (now, value)
        return value
