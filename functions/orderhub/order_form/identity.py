"""A manager confirms (or rejects) that a chat contact is a customer. No Flask here.

A phone or e-mail typed in chat is weak evidence (issue 21): the ``contacts`` view links a
contact to a shop customer, and the ``orders`` view credits a chat contact with an order,
only when ManyChat verified it (opt-in) or a manager confirmed it in the app. The manager's
decision is one canonical ``contact.identity`` event (entity ``contact_identity``, table
``contact_identities``): who (``manager``), when (``occurred_at``), which contact, and the
phone and e-mail it is about, as the contact gave them. The views read the contact's newest
decision, and only while the contact still gives that phone or e-mail: a contact that later
types another number is unconfirmed again.

Idempotency: the customer page's form token (``manual.new_form_token``) and the decision
give the event id, so a double tap is one decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orderhub.event import Event, make_event, stable_id
from orderhub.order_form.actions import Refused, token_version

SOURCE = "manual"  # the CRM app
DECISIONS = ("confirmed", "rejected")


def read_decision(values: Mapping[str, Any]) -> str:
    decision = str(values.get("decision") or "")
    if decision not in DECISIONS:
        raise Refused("Choose: this is the customer, or this is not the customer")
    return decision


def decision_event(
    decision: str,
    *,
    shop: str,
    contact: Mapping[str, Any],
    manager: str,
    manager_name: str,
    token: str,
    at: datetime,
) -> Event:
    """The ``contact.identity`` event; the same token and decision give the same event id."""
    version = token_version(token)
    if version is None:
        raise Refused("This form is not ours: reload the page")
    if decision not in DECISIONS:
        raise Refused("Choose: this is the customer, or this is not the customer")
    contact_id = str(contact["contact_id"])
    phone = str(contact.get("phone") or "") or None
    email = str(contact.get("email") or "") or None
    decision_id = "I-" + stable_id(SOURCE, shop, contact_id, token, decision, phone, email)[:20]
    entity: dict[str, Any] = {
        "decision_id": decision_id,
        "contact_id": contact_id,
        "decision": decision,
        "phone": phone,
        "email": email,
        "manager": manager,
        "manager_name": manager_name,
    }
    return make_event(
        event_type="contact.identity",
        source=SOURCE,
        shop=shop,
        occurred_at=at,
        version=version,
        entity_id=decision_id,
        entity=entity,
    )
