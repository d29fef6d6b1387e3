""" "New order" and "cancelled" are said once per order, whatever events carry them.

Issue 13 item 7: a reconcile run publishes ``order.created`` at a later version than the
webhook's (another event id), a late webhook arrives after reconcile, a cancelled order
is updated later: each manager still hears of the order once, and of its cancellation
once. Old orders a sync finds are recorded, not announced.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orderhub.event import iso, make_event
from orderhub.notifier.notify import Policy, announcement_id, notify
from tests.unit.test_notifier_core import ANNA, BORIS, MemoryLedger, Rows, ScriptedSender

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def order_event(
    event_type: str = "order.created",
    *,
    version_at: datetime,
    created_at: datetime | None = None,
    cancelled_at: datetime | None = None,
    origin: str | None = None,
    order_id: str = "9",
    found_at: datetime | None = None,
) -> Any:
    entity = {
        "order_id": order_id,
        "name": f"#{order_id}",
        "currency": "EUR",
        "total": {"amount": "10", "currency": "EUR"},
        "created_at": iso(created_at or version_at),
        "cancelled_at": iso(cancelled_at) if cancelled_at else None,
    }
    event = make_event(
        event_type=event_type,
        source="shopify",
        shop="s.myshopify.com",
        occurred_at=version_at,
        version=int(version_at.timestamp() * 1000),
        entity_id=order_id,
        entity=entity,
        raw={
            "raw_id": f"r{version_at.timestamp()}",
            "kind": "shopify_reconcile" if origin else "shopify_webhook",
            "received_at": iso(found_at or NOW),
            "sha256": "0",
        },
    )
    if origin:
        event["origin"] = origin
    return event


def run(event: Any, ledger: MemoryLedger, sender: ScriptedSender, rows: Rows) -> Any:
    return notify(
        event,
        managers=(ANNA, BORIS),
        ledger=ledger,
        sender=sender,
        inserter=rows,
        policy=Policy(max_age=timedelta(hours=24)),
        now=lambda: NOW,
    )


def test_reconcile_created_at_a_later_version_does_not_announce_again():
    created = NOW - timedelta(minutes=30)
    webhook = order_event(version_at=created)
    reconciled = order_event(
        version_at=created + timedelta(minutes=5), created_at=created, origin="reconcile"
    )
    assert webhook["event_id"] != reconciled["event_id"]
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    run(webhook, ledger, sender, rows)
    summary = run(reconciled, ledger, sender, rows)
    assert sorted(sender.calls) == ["111", "222"]
    assert summary.duplicate == ["111", "222"]


def test_a_late_webhook_after_reconcile_does_not_announce_again():
    created = NOW - timedelta(minutes=30)
    reconciled = order_event(
        version_at=created + timedelta(minutes=5), created_at=created, origin="reconcile"
    )
    late_webhook = order_event(version_at=created)
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    run(reconciled, ledger, sender, rows)
    run(late_webhook, ledger, sender, rows)
    assert sorted(sender.calls) == ["111", "222"]
    assert sorted(rows.of("sent")) == ["111", "222"]


def test_a_cancelled_order_updated_later_is_announced_cancelled_once():
    created = NOW - timedelta(hours=2)
    cancelled = NOW - timedelta(hours=1)
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    run(order_event(version_at=created), ledger, sender, rows)
    for minutes in (0, 10, 20):  # the cancel, then two later updates of the cancelled order
        event = order_event(
            "order.cancelled",
            version_at=cancelled + timedelta(minutes=minutes),
            created_at=created,
            cancelled_at=cancelled,
        )
        run(event, ledger, sender, rows)
    # one "new order" and one "cancelled" per manager
    assert sorted(sender.calls) == ["111", "111", "222", "222"]


def test_kinds_and_orders_are_told_apart():
    at = NOW - timedelta(minutes=5)
    new = announcement_id(order_event(version_at=at))
    assert new == announcement_id(order_event(version_at=at + timedelta(minutes=1)))
    assert new != announcement_id(order_event("order.cancelled", version_at=at, cancelled_at=at))
    assert new != announcement_id(order_event(version_at=at, order_id="10"))


def test_a_sync_does_not_announce_old_orders_as_new():
    old = NOW - timedelta(days=3)
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    assert run(order_event(version_at=old, origin="reconcile"), ledger, sender, rows) is None
    assert run(order_event(version_at=old, origin="catch-up"), ledger, sender, rows) is None
    assert sender.calls == [] and rows.rows == []


def test_a_sync_announces_an_order_of_the_last_hours_it_found():
    recent = NOW - timedelta(hours=3)
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    run(order_event(version_at=recent, origin="reconcile"), ledger, sender, rows)
    assert sorted(sender.calls) == ["111", "222"]


def test_age_is_judged_when_the_sync_found_it_so_a_redelivery_decides_alike():
    # Found 3 hours after it was made: news, even if Pub/Sub redelivers it two days later.
    created = NOW - timedelta(days=2)
    event = order_event(
        version_at=created, origin="reconcile", found_at=created + timedelta(hours=3)
    )
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    run(event, ledger, sender, rows)
    assert sorted(sender.calls) == ["111", "222"]


def test_a_live_webhook_is_always_news():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    run(order_event(version_at=NOW - timedelta(days=30)), ledger, sender, rows)
    assert sorted(sender.calls) == ["111", "222"]
