"""The order form's sign-in throttle, headers and claims through functions-framework's
test client against the emulators (issue 11 items 2 and 6, issue 13 item 1).

Requests reach the function through Google's front end, which appends the address it saw
to ``X-Forwarded-For``; whatever the client wrote stays to the left of it. These tests
send both parts, as a client and the front end together would.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration import test_order_form as base
from tests.integration.test_order_form import PASSWORD, SHOP, Form, hidden, order_values

# The fixtures of the form's own integration tests: a fresh prefix, topic, dataset and
# Shopify stand-in per test, and the manager 'anna'.
shopify_admin = base.shopify_admin
form = base.form

ATTACKER = "203.0.113.66"
ANNA_AT_HOME = "198.51.100.7"


def sign_in(
    form: Form, client: Any, *, seen_from: str, wrote: str | None = None, password: str = PASSWORD
) -> Any:
    """A sign-in as 'anna' from ``seen_from`` (what the front end appends), with the
    client's own ``X-Forwarded-For`` value ``wrote`` in front of it."""
    forwarded = f"{wrote}, {seen_from}" if wrote else seen_from
    headers = {"X-Forwarded-For": forwarded}
    page = client.get("/signin", headers=headers)
    return client.post(
        "/signin",
        headers=headers,
        data={"csrf_token": hidden(page, "csrf_token"), "manager": "anna", "password": password},
    )


def new_client(form: Form) -> Any:
    return form.client.application.test_client()


def test_wrong_passwords_behind_rotating_spoofed_addresses_are_throttled(form: Form) -> None:
    attacker = new_client(form)
    statuses = [
        sign_in(
            form, attacker, seen_from=ATTACKER, wrote=f"10.{i}.{i}.{i}", password="guess"
        ).status_code
        for i in range(14)
    ]
    assert statuses[0] == 401
    # Each spoofed entry did not buy a fresh counter: once the address's waits outlast a
    # password check, guesses are refused unchecked.
    assert statuses.count(429) >= 5, statuses


def test_ipv6_guesses_from_one_64_share_a_counter(form: Form) -> None:
    attacker = new_client(form)
    statuses = [
        sign_in(form, attacker, seen_from=f"2001:db8:77:1::{i:x}", password="guess").status_code
        for i in range(1, 15)
    ]
    assert 429 in statuses, statuses


def test_naming_the_managers_address_cannot_lock_her_out(form: Form) -> None:
    phone = new_client(form)  # Anna's phone: she has signed in on it before
    assert sign_in(form, phone, seen_from=ANNA_AT_HOME).status_code == 303
    hidden_page = phone.get("/", headers={"X-Forwarded-For": ANNA_AT_HOME})
    phone.post(
        "/signout",
        headers={"X-Forwarded-For": ANNA_AT_HOME},
        data={"csrf_token": hidden(hidden_page, "csrf_token")},
    )

    # A stranger names her address in front and guesses her password, 14 times.
    stranger = new_client(form)
    for _ in range(14):
        sign_in(form, stranger, seen_from=ATTACKER, wrote=ANNA_AT_HOME, password="x")
    # Say guesses at her name came from a thousand addresses too: her name is slowed down.
    from google.cloud import firestore

    from orderhub.order_form.stores import throttle_keys

    db = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])
    now = datetime.now(UTC)
    db.collection(f"{os.environ['FIRESTORE_PREFIX']}signin_throttle").document(
        dict(throttle_keys("anna", ATTACKER))["name"]
    ).set(
        {
            "kind": "name",
            "failures": 1000,
            "locked_until": now + timedelta(seconds=60),
            "expires_at": now + timedelta(days=1),
        }
    )

    # A browser that never signed in as Anna waits for her name ...
    unknown = new_client(form)
    assert sign_in(form, unknown, seen_from="192.0.2.50").status_code == 429
    # ... but Anna, on her phone, from her address, signs in at once.
    assert sign_in(form, phone, seen_from=ANNA_AT_HOME).status_code == 303


def test_the_form_tells_browsers_to_use_https_only(form: Form) -> None:
    for path in ("/signin", "/", "/assets/form.css"):
        response = form.client.get(path)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert int(response.headers["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= (
            365 * 86400
        )


def test_failed_sign_in_logs_carry_no_typed_name(form: Form, capsys: Any) -> None:
    sign_in(form, new_client(form), seen_from=ATTACKER, password="wrong")
    logged = capsys.readouterr().out
    assert "sign-in failed" in logged
    import hashlib

    assert "anna" not in logged.replace("anna@", "")
    assert hashlib.sha256(b"anna").hexdigest()[:12] not in logged


def test_a_claim_left_by_a_failed_attempt_does_not_turn_into_already_saved(form: Form) -> None:
    """A run claimed the form token and then died (or its publish failed and so did the
    release): the manager's retry must publish the order, not say it was saved."""
    from google.cloud import firestore

    form.sign_in()
    page = form.open()
    values = order_values(page)
    token = values["form_token"]
    db = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])
    claims = db.collection(f"{os.environ['FIRESTORE_PREFIX']}order_form_claims")
    left = datetime.now(UTC) - timedelta(minutes=5)
    claims.document(f"manual:{SHOP}:{token}").set(
        {"status": "pending", "claimed_at": left, "first_at": left, "token": "dead-run"}
    )

    saved = form.client.post("/", data=values)
    assert saved.status_code == 201, saved.get_data(as_text=True)
    (message,) = form.topic.pull(expect=1)
    import json

    event = json.loads(message.data)
    assert event["event_type"] == "order.created" and event["entity"]["manager"] == "anna"

    again = form.client.post("/", data=values)  # and now it is saved: the duplicate
    assert again.status_code == 200
    assert form.topic.pull(expect=0, timeout=1) == []


def test_a_claim_still_in_flight_is_not_reported_as_saved(form: Form) -> None:
    from google.cloud import firestore

    form.sign_in()
    values = order_values(form.open())
    db = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])
    now = datetime.now(UTC)
    db.collection(f"{os.environ['FIRESTORE_PREFIX']}order_form_claims").document(
        f"manual:{SHOP}:{values['form_token']}"
    ).set({"status": "pending", "claimed_at": now, "first_at": now, "token": "other-tab"})
    response = form.client.post("/", data=values)
    assert response.status_code == 409
    assert "being saved" in response.get_data(as_text=True)
    assert form.topic.pull(expect=0, timeout=1) == []
