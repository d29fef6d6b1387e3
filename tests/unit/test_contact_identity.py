"""A manager's decision on a chat contact's identity (orderhub.order_form.identity): one
canonical ``contact.identity`` event, the same for a double tap, valid against the schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from orderhub.order_form import identity
from orderhub.order_form.actions import Refused
from orderhub.sinks.bigquery import TABLE_OF_ENTITY
from orderhub.sources import manual

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "event.v1.json").read_text())
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CONTACT = {"contact_id": "1324564712345678901", "phone": "+12015550123", "email": None}


def decide(decision: str, token: str) -> dict:
    return dict(
        identity.decision_event(
            decision,
            shop="crm.myshopify.com",
            contact=CONTACT,
            manager="anna",
            manager_name="Anna K",
            token=token,
            at=AT,
        )
    )


def test_a_decision_is_one_valid_event_and_a_double_tap_is_the_same_event() -> None:
    token = manual.new_form_token(AT)
    confirmed = decide("confirmed", token)
    jsonschema.validate(confirmed, SCHEMA)
    assert confirmed["event_type"] == "contact.identity"
    assert TABLE_OF_ENTITY[confirmed["entity_type"]] == "contact_identities"
    assert confirmed["entity"]["phone"] == "+12015550123"
    assert decide("confirmed", token)["event_id"] == confirmed["event_id"]
    rejected = decide("rejected", token)
    jsonschema.validate(rejected, SCHEMA)
    assert rejected["event_id"] != confirmed["event_id"]


@pytest.mark.parametrize(("decision", "token"), [("maybe", None), ("confirmed", "forged")])
def test_an_unknown_decision_or_a_forged_token_is_refused(decision: str, token: str | None) -> None:
    with pytest.raises(Refused):
        decide(decision, token or manual.new_form_token(AT))
    with pytest.raises(Refused):
        identity.read_decision({"decision": "maybe"})
