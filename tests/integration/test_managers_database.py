"""The managers live in a Firestore database of their own (``MANAGERS_DATABASE``), which
the functions only read: the order form checks sign-ins against it and keeps its own
state (sign-outs, throttle) in the default database; the notifier reads whom to tell from
it. In production the functions hold read-only access to that database (infra), so an
internet-facing function cannot rewrite a password hash or the list of managers.

Each test names a fresh database in the emulator, so nothing here is shared.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

from tests.conftest import Topic, clear_caches, password_digest, unique

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long test password"


def _hidden(page: Any, name: str) -> str:
    found = BeautifulSoup(page.get_data(as_text=True), "html.parser").find(
        "input", attrs={"name": name}
    )
    assert found is not None
    return str(found["value"])


@pytest.fixture
def managers_db(emulators: dict[str, str]) -> str:
    name = f"mgr-{uuid.uuid4().hex[:12]}"
    os.environ["MANAGERS_DATABASE"] = name
    return name


def _client(database: str | None = None) -> Any:
    from google.cloud import firestore

    project = os.environ["GOOGLE_CLOUD_PROJECT"]
    return firestore.Client(project=project, database=database or "(default)")


def test_order_form_signs_in_against_the_managers_database_and_never_writes_it(
    managers_db: str, topic: Topic
) -> None:
    from orderhub.order_form import sessions as auth
    from orderhub.order_form.stores import FirestoreAccounts, Manager

    prefix = unique("mdb") + "-"
    os.environ.update(
        {
            "ORDER_EVENTS_TOPIC": topic.name,
            "FIRESTORE_PREFIX": prefix,
            "SHOPIFY_SHOP_DOMAIN": "mdb-test.myshopify.com",
            "ORDER_FORM_SESSION_SECRET": "y" * 40,
            "BIGQUERY_DATASET": "unused",
        }
    )
    clear_caches()
    now = datetime.now(UTC)
    real = FirestoreAccounts(_client(managers_db), prefix + "managers")
    real.put(Manager("anna", "Anna K", password_digest(PASSWORD)), now=now)
    # The same name in the default database, with another password: never consulted.
    decoy = FirestoreAccounts(_client(), prefix + "managers")
    decoy.put(Manager("anna", "Anna K", auth.hash_password("the decoy password")), now=now)
    doc = _client(managers_db).collection(prefix + "managers").document("anna")
    written_at = doc.get().update_time

    import functions_framework

    app = functions_framework.create_app(
        target="order_form", source=str(ROOT / "functions" / "main.py"), signature_type="http"
    )
    client = app.test_client()

    def sign_in(password: str) -> Any:
        page = client.get("/signin")
        token = _hidden(page, "csrf_token")
        return client.post(
            "/signin", data={"csrf_token": token, "manager": "anna", "password": password}
        )

    assert sign_in("the decoy password").status_code == 401
    assert sign_in(PASSWORD).status_code == 303
    page = client.get("/")
    assert page.status_code == 200
    cookie = client.get_cookie("oh_session")
    assert cookie is not None

    out = client.post("/signout", data={"csrf_token": _hidden(page, "csrf_token")})
    assert out.status_code == 303
    client.set_cookie("oh_session", cookie.value)  # a copy of the session, replayed
    assert client.get("/").status_code == 303  # signing out still ends every copy

    after = doc.get()
    assert after.update_time == written_at  # the form wrote nothing to the managers database
    assert "signed_out_at" not in (after.to_dict() or {})
    signouts = _client().collection(prefix + "manager_signouts").document("anna").get()
    assert signouts.exists  # the sign-out is kept in the form's own database


def test_notifier_reads_whom_to_tell_from_the_managers_database(managers_db: str) -> None:
    from orderhub.managers import FirestoreManagers, Manager, current

    prefix = unique("mdbn") + "-"
    os.environ.update({"FIRESTORE_PREFIX": prefix, "MANAGERS_DATABASE": managers_db})
    FirestoreManagers(_client(managers_db), prefix).save((Manager("1000777", "Only here"),))
    FirestoreManagers(_client(), prefix).save((Manager("1000888", "Decoy"),))
    clear_caches()
    os.environ.setdefault("BIGQUERY_DATASET", "unused")
    os.environ.setdefault("MANYCHAT_TOKEN", "t" * 16)

    from orderhub.notifier import wiring as notifier

    store = notifier.managers()

    assert [m.subscriber_id for m in current(store, "")] == ["1000777"]
