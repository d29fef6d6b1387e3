"""The pure parts of working together (issue 22): assignment as an action, the list's
days and sources in words, the digest a single sign-out keeps."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from orderhub.order_form import actions as acts
from orderhub.order_form import sessions, worklist
from orderhub.sources import manual

MANAGERS = {"anna": "Anna K", "olga": "Olga P"}
AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_an_assignment_names_a_listed_manager_or_nobody() -> None:
    assert acts.read_assign({"assignee": "anna"}, MANAGERS) == acts.Action(
        "assign", assignee="anna", assignee_name="Anna K"
    )
    assert acts.read_assign({"assignee": " "}, MANAGERS) == acts.Action("assign")
    with pytest.raises(acts.Refused, match="from the list"):
        acts.read_assign({"assignee": "mallory"}, MANAGERS)


def test_an_assignment_event_is_one_per_tap_and_different_assignees_are_different() -> None:
    token = manual.new_form_token(datetime.now(UTC))
    key = acts.OrderKey("shopify", "s.myshopify.com", "1001")

    def event(assignee: str) -> dict[str, object]:
        action = acts.read_assign({"assignee": assignee}, MANAGERS)
        made = acts.action_event(
            action, order=key, manager="olga", manager_name="Olga P", token=token, at=AT
        )
        return dict(made)

    anna, again, olga = event("anna"), event("anna"), event("olga")
    assert anna["event_id"] == again["event_id"] != olga["event_id"]
    assert anna["entity"]["assignee_name"] == "Anna K"  # type: ignore[index]


def test_the_newest_assignment_counts_and_reads_in_words() -> None:
    rows = [
        {"kind": "assign", "assignee": "anna", "assignee_name": "Anna K", "occurred_at": AT},
        {
            "kind": "assign",
            "assignee": None,
            "occurred_at": AT.replace(hour=11),
            "event_id": "b",
        },
    ]
    assert acts.assigned(rows) == rows[1]
    assert acts.assigned([]) is None
    assert acts.describe(rows[0]) == ["assigned to Anna K"]
    assert acts.describe(rows[1]) == ["unassigned"]


def test_rows_name_their_source_in_words() -> None:
    assert worklist.row_source({"source": "email:kiire"}) == "Kiire (e-mail)"
    assert worklist.row_source({"source": "email:smakuy:box"}) == "Smakuy (e-mail)"
    assert worklist.row_source({"source": "shopify"}) == "Shopify"
    assert worklist.row_source({"source": "manual"}) == "Phone order"
    assert worklist.row_source({"source": "shopify", "chat_contact": "71"}) == "Chat-bot"


def test_rows_are_grouped_by_their_day_with_its_count_and_revenue() -> None:
    def row(day: date, count: int, revenue: str) -> dict[str, object]:
        return {"day": day, "day_count": count, "day_revenue": revenue, "currency": "EUR"}

    monday, sunday = date(2026, 12, 7), date(2026, 12, 6)
    days = worklist.days([row(monday, 2, "30"), row(monday, 2, "30"), row(sunday, 1, "5.5")])
    assert [(d.key, d.count, d.revenue, len(d.rows)) for d in days] == [
        ("2026-12-07", 2, ["30.00 EUR"], 2),
        ("2026-12-06", 1, ["5.50 EUR"], 1),
    ]
    assert days[0].label == "Mon 07 Dec 2026"


def test_only_active_managers_can_be_assigned() -> None:
    people = [
        SimpleNamespace(id="olga", name="Olga P", active=True),
        SimpleNamespace(id="ivan", name="Ivan", active=False),
        SimpleNamespace(id="anna", name="Anna K", active=True),
    ]
    store = SimpleNamespace(list=lambda: people)
    assert worklist.assignable(store) == {"anna": "Anna K", "olga": "Olga P"}


def test_a_single_sign_out_keeps_a_digest_that_is_a_plain_field_name() -> None:
    digest = sessions.sid_digest("abc-_123")
    assert digest.isidentifier() and "abc" not in digest and len(digest) == 32
    assert digest == sessions.sid_digest("abc-_123") != sessions.sid_digest("abc-_124")
