"""The inbound switches (Shopify → CRM): what "off" means, without losing anything.

A shop's ``sync_settings`` document has ``inbound.orders``, ``inbound.customers`` and
``inbound.products`` (on by default; refunds go with orders). When one is off, every
producer of Shopify facts (the webhook, reconciliation, backfill) still authenticates,
normalises and publishes the event, but **holds** it: the event carries
``hold: {state: "held", switch, reason}``. Then

* crm_writer keeps the raw payload in ``raw_events`` as always, and instead of a row in
  ``order_events`` (``customer_events``, ...) appends a ``sync_log`` row, direction
  ``inbound``, status ``skipped``, reason "switched off: …", with the whole event in
  ``held_event`` (its raw body stays in ``raw_events`` only): the CRM's views do not show
  it, so nothing the owner switched off appears in the CRM;
* the notifier says nothing about it; shopify_sync never writes Shopify's own events back.

Turning the switch on again and running ``scripts/resync --inbound`` publishes every held
event not yet brought in, oldest first, as ``hold: {state: "released"}`` with ``origin``
``catch-up`` and ``found_at`` now: crm_writer writes it as it would have (its raw payload
is already kept) and logs ``synced``; the notifier applies its age rule (an order younger
than ``NOTIFY_MAX_AGE_HOURS`` is announced, older ones recorded). Versions make the order of
arrival irrelevant. Events that are not Shopify's own facts pass whatever the switches:
privacy requests (a legal duty), quarantined payloads, and Shopify's echoes of orders the
CRM wrote (their source is the CRM's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orderhub.bus import Bus
from orderhub.event import Event, iso, stable_id
from orderhub.switches import Switches

#: entity_type → the inbound switch that governs it.
SWITCH_OF_ENTITY = {
    "order": "orders",
    "refund": "orders",
    "customer": "customers",
    "product": "products",
}

WORDS = {"orders": "orders", "customers": "customers", "products": "products"}


def switch_of(event: Event) -> str | None:
    """The inbound switch of a Shopify fact; ``None`` for what no switch may stop."""
    if event["source"] != "shopify":
        return None
    return SWITCH_OF_ENTITY.get(event["entity_type"])


def hold(event: Event, switches: Switches) -> Event:
    """The event, held if its shop switched its entity off; else unchanged."""
    switch = switch_of(event)
    if switch is None or switches.inbound_on(switch):
        return event
    reason = (
        f"switched off: {WORDS[switch]} from Shopify are not taken into the CRM"
        f" (inbound.{switch}=off); kept, brought in by scripts/resync --inbound"
    )
    return {**event, "hold": {"state": "held", "switch": switch, "reason": reason}}


def state(event: Event) -> str | None:
    """``held``, ``released`` or ``None``."""
    value = event.get("hold")
    return str(value.get("state")) if isinstance(value, dict) else None


def is_held(event: Event) -> bool:
    return state(event) == "held"


def release(event: Event, *, now: datetime) -> Event:
    """A held event made ready to enter the CRM: found now, by a catch-up."""
    released: dict[str, Any] = {**event}
    released["hold"] = {"state": "released", "switch": (event.get("hold") or {}).get("switch")}
    if released.get("origin") != "backfill":
        released["origin"] = "catch-up"
        released["found_at"] = iso(now)
    raw = released.get("raw")
    if isinstance(raw, dict):  # the body is in raw_events already
        released["raw"] = {k: v for k, v in raw.items() if k != "body"}
    return released  # type: ignore[return-value]


def log_row(event: Event, *, at: datetime) -> dict[str, Any]:
    """The ``sync_log`` row of a held or released event (``build_row`` shapes it)."""
    current = state(event)
    held = current == "held"
    kept: dict[str, Any] | None = None
    if held:
        kept = {**event}
        raw = kept.get("raw")
        if isinstance(raw, dict):
            kept["raw"] = {k: v for k, v in raw.items() if k != "body"}
    hold_info = event.get("hold") or {}
    return {
        "log_id": stable_id("inbound", event["event_id"], current),
        "shop": event["shop"],
        "direction": "inbound",
        "entity": event["entity_type"],
        "source": event["source"],
        "record_id": event["entity_id"],
        "event_id": event["event_id"],
        "status": "skipped" if held else "synced",
        "reason": hold_info.get("reason")
        if held
        else "brought into the CRM after the switch was turned on",
        "held_event": kept,
        "attempted_at": at,
    }


class HoldingBus:
    """A ``Bus`` that holds what the shop's inbound switches say is off (reconcile, backfill)."""

    def __init__(self, bus: Bus, switches: Callable[[str], Switches]) -> None:
        self._bus, self._switches = bus, switches

    def publish(self, event: Event) -> str:
        if switch_of(event) is not None:
            event = hold(event, self._switches(event["shop"]))
        return self._bus.publish(event)


# ------------------------------------------------------------------ bringing them in
#: Held events not brought in yet. A held event is released when a ``synced`` inbound row
#: of **the same event id** exists (``log_row`` of its release); never because some other
#: version of the record was released after it: a release that stopped after v1 (a Pub/Sub
#: error, Ctrl-C, a dead letter) leaves v2 held, and the next run brings it in.
HELD = """
WITH released AS (
  SELECT DISTINCT event_id
  FROM `{ds}.sync_log`
  WHERE direction = 'inbound' AND status = 'synced'
),
bodies AS (
  SELECT raw_id, ANY_VALUE(body) AS body
  FROM `{ds}.raw_events`
  WHERE shop = @shop AND body IS NOT NULL
  GROUP BY raw_id
)
SELECT TO_JSON_STRING(l.held_event) AS event_json, l.entity, l.record_id, b.body
FROM `{ds}.sync_log` AS l
LEFT JOIN released AS r ON r.event_id = l.event_id
LEFT JOIN bodies AS b ON b.raw_id = JSON_VALUE(l.held_event, '$.raw.raw_id')
WHERE l.direction = 'inbound' AND l.status = 'skipped' AND l.shop = @shop
  AND l.held_event IS NOT NULL
  AND r.event_id IS NULL
  AND (@record_id = '' OR l.record_id = @record_id)
QUALIFY ROW_NUMBER() OVER (PARTITION BY l.event_id ORDER BY l.attempted_at) = 1
ORDER BY l.attempted_at, l.record_id
"""


@dataclass(frozen=True)
class HeldSelection:
    shop: str
    entities: tuple[str, ...] = ("orders", "customers", "products")  # inbound switches
    record_id: str = ""


def recognise(event: Event, body: str | None, own_app_ids: frozenset[str]) -> Event:
    """A held Shopify order that is in fact an order the CRM wrote (held before its
    producer could recognise it): the same event as a version of that CRM order, exactly
    as the webhook makes it today (``orderhub.sources.shopify.echo_of_crm_order``). The
    identity is read from the raw payload (``sourceIdentifier`` and app id), never from
    the held entity."""
    import json

    from orderhub.sources import shopify

    if (
        event["source"] != shopify.SOURCE
        or event["entity_type"] != "order"
        or event["event_type"] not in ("order.created", "order.updated", "order.cancelled")
        or not body
    ):
        return event
    try:
        payload = json.loads(body)
    except ValueError:
        return event
    if not isinstance(payload, dict):
        return event
    joined = shopify.echo_of_crm_order(event["shop"], payload, event["entity"], own_app_ids)
    if joined is None:
        return event
    source, shop, entity = joined
    kind = "order.updated" if event["event_type"] == "order.created" else event["event_type"]
    recognised: dict[str, Any] = {
        **event,
        "event_type": kind,
        "source": source,
        "shop": shop,
        "entity_id": entity["order_id"],
        "entity": entity,
    }
    return recognised  # type: ignore[return-value]


def held_events(
    client: Any,
    dataset: str,
    selection: HeldSelection,
    own_app_ids: frozenset[str] = frozenset(),
) -> list[Event]:
    """The held events of a shop not yet brought in, oldest first; orders the CRM wrote
    (``own_app_ids``) come back as versions of their CRM orders (``recognise``)."""
    import json

    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("shop", "STRING", selection.shop),
            bigquery.ScalarQueryParameter("record_id", "STRING", selection.record_id),
        ]
    )
    sql = HELD.replace("{ds}", f"{client.project}.{dataset}")
    events: list[Event] = []
    for row in client.query(sql, job_config=config).result(timeout=60):
        value: Any = row["event_json"]
        while isinstance(value, str):  # JSON columns come back as text, sometimes twice
            value = json.loads(value)
        if isinstance(value, dict) and SWITCH_OF_ENTITY.get(row["entity"]) in selection.entities:
            events.append(recognise(value, row.get("body"), own_app_ids))  # type: ignore[arg-type]
    return events


def bring_in(
    events: Sequence[Event], *, switches: Switches, bus: Bus, now: Callable[[], datetime]
) -> tuple[list[Event], list[Event]]:
    """Publish each held event whose switch is on again; (sent, still off)."""
    sent: list[Event] = []
    still_off: list[Event] = []
    for event in events:
        switch = switch_of(event)
        if switch is not None and not switches.inbound_on(switch):
            still_off.append(event)
            continue
        bus.publish(release(event, now=now()))
        sent.append(event)
    return sent, still_off
