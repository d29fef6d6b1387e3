"""Issue 13 item 7, Gmail side: a sync that reaches back days does not announce old orders
as new. Orders from mail read well after it arrived carry ``origin: catch-up`` and the run's
start as ``found_at``, which the notifier's age rule reads; mail read live is announced."""

from __future__ import annotations

from datetime import timedelta

from orderhub.event import parse_time
from orderhub.notifier import notify as notifier
from tests.gmailfakes import NOW, World

DAY = timedelta(hours=24)


def test_orders_a_full_sync_finds_days_late_are_recorded_not_announced():
    world = World()
    world.deliver("smakuy_one_item.eml", age=timedelta(days=2))  # came while we were down

    world.sync()  # the mailbox's first sync is a full sync of the last days

    [order] = [e for e in world.bus.events if e["event_type"] == "order.created"]
    assert order["origin"] == "catch-up"
    assert parse_time(order["found_at"]) == NOW
    assert notifier.too_old(order, now=NOW, max_age=DAY)


def test_mail_read_as_it_arrives_is_news():
    world = World()
    world.sync()
    last = world.history_id(world.deliver("smakuy_one_item.eml"))  # arrives now

    world.sync(last)

    [order] = [e for e in world.bus.events if e["event_type"] == "order.created"]
    assert "origin" not in order and "found_at" not in order
    assert not notifier.too_old(order, now=NOW, max_age=DAY)
