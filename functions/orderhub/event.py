"""The canonical event: the one shape every producer publishes and every consumer reads.

The JSON schema is ``schemas/event.v1.json``; this module is its Python side. An event
is a plain dict (JSON-ready) so that producers, consumers and tests share one
representation with no conversion layer. The TypedDicts below document and type it.

Rules every producer follows:

* ``event_id`` is deterministic: the same fact from the same source gives the same id,
  so redeliveries and duplicate webhooks collapse downstream.
* ``version`` grows monotonically per entity (milliseconds since the epoch of the
  source's own ``updated_at``), so consumers can pick the newest state whatever the
  delivery order.
* Money is a decimal string with its currency; ids are strings (Shopify's exceed 2^53).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

from orderhub.errors import PoisonMessage

SCHEMA_VERSION = 1

EventType = Literal[
    "order.created",
    "order.updated",
    "order.cancelled",
    "order.refunded",
    "order.deleted",
    "customer.upserted",
    "customer.deleted",
    "product.upserted",
    "product.deleted",
    "payload.quarantined",
    "privacy.requested",
    "contact.touched",
    "order.action",
    "shop.uninstalled",
    "contact.identity",
    "customer.comment",
]
ENTITY_OF: dict[str, str] = {
    "order.created": "order",
    "order.updated": "order",
    "order.cancelled": "order",
    "order.refunded": "refund",
    "order.deleted": "order",
    "customer.upserted": "customer",
    "customer.deleted": "customer",
    "product.upserted": "product",
    "product.deleted": "product",
    "payload.quarantined": "quarantine",
    "privacy.requested": "privacy",
    "contact.touched": "contact",
    #: A manager's action on an order in the CRM app: a pipeline status, paid, a comment.
    "order.action": "order_action",
    #: A merchant uninstalled our app (``app/uninstalled``): the shop is disconnected.
    "shop.uninstalled": "shop",
    #: A manager's decision that a chat contact's typed phone or e-mail is the customer's.
    "contact.identity": "contact_identity",
    #: A manager's comment on a customer in the CRM app (``order_form.customer_notes``).
    "customer.comment": "customer_comment",
}


class Money(TypedDict):
    amount: str
    currency: str


class Address(TypedDict, total=False):
    name: str | None
    company: str | None
    address1: str | None
    address2: str | None
    city: str | None
    province: str | None
    zip: str | None
    country: str | None
    country_code: str | None
    phone: str | None


class Party(TypedDict, total=False):
    id: str | None
    name: str | None
    email: str | None
    phone: str | None


class LineItem(TypedDict, total=False):
    line_id: str | None
    product_id: str | None
    variant_id: str | None
    sku: str | None
    title: str
    variant_title: str | None
    quantity: int
    unit_price: Money
    total_discount: Money


class Raw(TypedDict):
    """Where the verbatim payload lives: ``raw_events.raw_id``.

    ``body`` travels with the message so that crm_writer can archive it; consumers
    other than crm_writer ignore it.
    """

    raw_id: str
    kind: str
    received_at: str
    sha256: str
    body: NotRequired[str]
    meta: NotRequired[dict[str, str]]


class Event(TypedDict):
    schema_version: int
    event_id: str
    event_type: str
    source: str
    shop: str
    occurred_at: str
    version: int
    entity_type: str
    entity_id: str
    entity: dict[str, Any]
    raw: NotRequired[Raw]
    #: How the fact reached us when not live: "backfill" (never announced), "reconcile" or
    #: "catch-up" (announced only while the order is recent when found).
    origin: NotRequired[str]
    #: With a "catch-up" origin: when the sync found the fact (ISO-8601).
    found_at: NotRequired[str]
    #: A Shopify fact whose inbound switch is off: ``{"state": "held"|"released",
    #: "switch", "reason"}`` (``orderhub.inbound``).
    hold: NotRequired[dict[str, Any]]


def stable_id(*parts: object) -> str:
    """A short deterministic id from the parts (sha256, hex, 32 chars)."""
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def parse_time(value: str) -> datetime:
    """Parse an ISO-8601 timestamp (Shopify's ``-05:00`` offsets, or ``Z``) to aware UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, the one timestamp form events carry."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def version_of(moment: datetime) -> int:
    """Milliseconds since the epoch: the per-entity version number."""
    return int(moment.timestamp() * 1000)


def make_event(
    *,
    event_type: str,
    source: str,
    shop: str,
    occurred_at: datetime,
    version: int,
    entity_id: str,
    entity: dict[str, Any],
    raw: Raw | None = None,
    id_parts: tuple[object, ...] = (),
) -> Event:
    """Build an event; ``event_id`` comes from the source fact, never from a clock."""
    entity_type = ENTITY_OF[event_type]
    event: Event = {
        "schema_version": SCHEMA_VERSION,
        "event_id": stable_id(source, shop, event_type, entity_type, entity_id, version, *id_parts),
        "event_type": event_type,
        "source": source,
        "shop": shop,
        "occurred_at": iso(occurred_at),
        "version": version,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "entity": entity,
    }
    if raw is not None:
        event["raw"] = raw
    return event


def encode(event: Event) -> bytes:
    """The Pub/Sub message body for an event."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_REQUIRED = ("event_id", "event_type", "source", "shop", "occurred_at", "version", "entity_id")


def decode(data: bytes) -> Event:
    """Parse a message body back into an event; ``PoisonMessage`` if it is not one."""
    try:
        event = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"message is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise PoisonMessage("message is not a JSON object")
    missing = [key for key in _REQUIRED if key not in event]
    if missing:
        raise PoisonMessage(f"message lacks {', '.join(missing)}")
    if event["event_type"] not in ENTITY_OF:
        raise PoisonMessage(f"unknown event_type {event['event_type']!r}")
    if event.get("schema_version", SCHEMA_VERSION) > SCHEMA_VERSION:
        raise PoisonMessage(f"schema_version {event['schema_version']} is newer than this code")
    return event  # type: ignore[return-value]


def quarantine_event(
    *, source: str, shop: str, raw: Raw, reason: str, ref: str, topic: str | None, at: datetime
) -> Event:
    """The event that carries an unreadable payload, verbatim, to the quarantine table."""
    return make_event(
        event_type="payload.quarantined",
        source=source,
        shop=shop,
        occurred_at=at,
        version=version_of(at),
        entity_id=raw["raw_id"],
        entity={"reason": reason, "kind": raw["kind"], "topic": topic, "ref": ref},
        raw=raw,
    )


def event_from_row(
    row: Mapping[str, Any], *, entity_type: str = "order", id_column: str = "order_id"
) -> Event:
    """The canonical event back from its stored row (``order_events`` and the like:
    ``entity_json`` and the envelope's columns)."""
    entity = row["entity_json"]
    while isinstance(entity, str):  # JSON columns come back as text, sometimes twice
        entity = json.loads(entity)
    occurred = row["occurred_at"]
    return {
        "schema_version": 1,
        "event_id": str(row["event_id"]),
        "event_type": str(row["event_type"]),
        "source": str(row["source"]),
        "shop": str(row["shop"]),
        "occurred_at": occurred if isinstance(occurred, str) else iso(occurred),
        "version": int(row["version"]),
        "entity_type": entity_type,
        "entity_id": str(row[id_column]),
        "entity": dict(entity or {}),
    }
