"""A manager's actions (issue 22), pure code: what a form may post, where that leaves the
order, what Shopify is asked to do, and that the event matches the canonical schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from orderhub.order_form import actions
from orderhub.shopify_sync import plan
from orderhub.sources import manual

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "event.v1.json").read_text())
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"status": "lost"}, "Choose a status"),
        ({"status": "cancelled"}, "Say why"),
        ({"status": "shipped", "tracking_number": "<script>"}, "tracking number"),
        ({"status": "confirmed", "text": "x" * 2001}, "At most 2000"),
    ],
)
def test_bad_input_is_refused_in_words(form: dict[str, str], message: str) -> None:
    with pytest.raises(actions.Refused, match=message):
        actions.read_status(form)


def test_the_newest_status_wins_and_a_cancelled_order_stays_cancelled() -> None:
    done = [
        {"kind": "status", "status": "confirmed", "occurred_at": AT},
        {"kind": "comment", "text": "hi", "occurred_at": AT.replace(hour=13)},
        {"kind": "status", "status": "packed", "occurred_at": AT.replace(hour=14)},
    ]
    assert actions.pipeline_status({}, done) == "packed"
    assert actions.pipeline_status({"cancelled_at": AT}, done) == "cancelled"
    assert actions.pipeline_status({"fulfillment_status": "fulfilled"}, []) == "shipped"
    assert actions.pipeline_status({}, []) == "new"
    with pytest.raises(actions.Refused, match="comments only"):
        actions.check_allowed(actions.Action("paid"), pipeline="cancelled")


def test_a_double_tap_is_one_event_and_two_actions_from_one_page_are_two() -> None:
    token = manual.new_form_token(datetime.now(UTC))
    key = actions.OrderKey("shopify", "s.myshopify.com", "1001")

    def event(action: actions.Action) -> dict[str, object]:
        made = actions.action_event(
            action, order=key, manager="anna", manager_name="Anna", token=token, at=AT
        )
        jsonschema.validate(made, SCHEMA)
        return dict(made)

    shipped = actions.read_status(
        {"status": "shipped", "tracking_number": " RR 1 ", "tracking_company": "CTT"}
    )
    assert event(shipped)["event_id"] == event(shipped)["event_id"]
    assert event(shipped)["event_id"] != event(actions.Action("comment", text="hi"))["event_id"]
    assert shipped.tracking_number == "RR 1"


def test_what_shopify_is_asked_to_do() -> None:
    assert plan.action_write({"kind": "status", "status": "shipped"}) == "fulfil"
    assert plan.action_write({"kind": "status", "status": "cancelled"}) == "cancel"
    assert plan.action_write({"kind": "paid"}) == "paid"
    assert plan.action_write({"kind": "status", "status": "packed"}) is None
    assert plan.action_write({"kind": "comment"}) is None
    assert plan.cancel_reason("inventory") == "INVENTORY"
    assert plan.cancel_reason("whatever") == "OTHER"
