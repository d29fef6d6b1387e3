"""Whose Messenger window is closing (issue 14 item 7): the state from the last message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orderhub.order_form.queries import window_state

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_window_is_open_for_a_day_after_the_managers_last_message():
    assert window_state(NOW - timedelta(hours=1), NOW) == ("open", 23.0)
    assert window_state(NOW - timedelta(hours=20), NOW) == ("open", 4.0)


def test_the_last_four_hours_are_closing_then_it_is_closed():
    assert window_state(NOW - timedelta(hours=20, minutes=30), NOW) == ("closing", 3.5)
    assert window_state(NOW - timedelta(hours=24), NOW) == ("closed", 0.0)
    assert window_state(NOW - timedelta(hours=30), NOW) == ("closed", -6.0)


def test_a_manager_never_seen_is_unknown():
    assert window_state(None, NOW) == ("unknown", None)
