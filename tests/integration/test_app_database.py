"""The CRM app's writable state lives in a database of its own (``APP_DATABASE``; issue 21,
docs/app-state.md), so the app needs no access to the default database, where the sync's
documents are. On the emulators, each test naming fresh databases: the app's own, and the
managers' (the operator's, read only).

* After a failed and a good sign-in, a manual order, a mark, settings and preference
  changes and a sign-out, the default database holds nothing under the test's prefix,
  and the app's database holds all of it (crm_writer's change marker included).
* shopify_sync, the webhook and reconciliation read the shops' switches (and installed
  shops) from the app's database; the notifier reads who is told of what there.
* /health reads the mailbox's sync and watch times from the app's database, where the
  Gmail functions copy them (``gmail_status``).
* The privacy job nulls and searches both databases.
* ``scripts/migrate-app-state`` copies the old documents, and a second run changes nothing.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from functions_framework import create_app

from devstack.shopify_sender import fixture, headers
from tests.conftest import ROOT, Crm, Topic, clear_caches, password_digest, unique
from tests.integration.test_crmapp import (
    PASSWORD,
    SHOP,
    App,
    _quarantine_a_good_mail,
    hidden,
    text,
)
from tests.integration.test_health import Env, env  # noqa: F401 (the /health fixture)

NOW = datetime.now(UTC).replace(microsecond=0)


def _client(database: str = "(default)") -> Any:
    from google.cloud import firestore

    return firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"], database=database)


def _collections(database: str, prefix: str) -> dict[str, int]:
    """The collections under ``prefix`` in a database, with their document counts."""
    client = _client(database)
    return {
        c.id[len(prefix) :]: len(list(c.list_documents()))
        for c in client.collections()
        if c.id.startswith(prefix)
    }


@pytest.fixture
def databases(emulators: dict[str, str]) -> tuple[str, str]:
    """A fresh app database and a fresh managers database, named in the environment."""
    app_db, managers_db = f"app-{uuid.uuid4().hex[:10]}", f"mgr-{uuid.uuid4().hex[:10]}"
    os.environ.update(APP_DATABASE=app_db, MANAGERS_DATABASE=managers_db)
    return app_db, managers_db


@pytest.fixture
def crm_app(
    databases: tuple[str, str], emulators: dict[str, str], topic: Topic, crm: Crm
) -> Iterator[App]:
    from orderhub.managers import FirestoreManagers as NotifyList
    from orderhub.managers import Manager as Told
    from orderhub.order_form.stores import FirestoreAccounts, Manager

    _app_db, managers_db = databases
    prefix = unique("appdb") + "-"
    os.environ.update(
        {
            "ORDER_EVENTS_TOPIC": topic.name,
            "FIRESTORE_PREFIX": prefix,
            "SHOPIFY_SHOP_DOMAIN": SHOP,
            "ORDER_FORM_SESSION_SECRET": "y" * 40,
            "ORDER_FORM_DEFAULT_COUNTRY": "US",
        }
    )
    os.environ.pop("ORDER_FORM_SHOPIFY_TOKEN", None)
    clear_caches()
    # The operator's managers, in their own database (the app only reads it).
    managers = FirestoreAccounts(_client(managers_db), prefix + "managers")
    digest = password_digest(PASSWORD)
    managers.put(Manager("anna", "Anna K", digest), now=NOW)
    managers.put(Manager("olga", "Olga P", digest, role="owner"), now=NOW)
    NotifyList(_client(managers_db), prefix).save((Told("1001", "Anna"), Told("1002", "Ivan")))
    source = str(ROOT / "functions" / "main.py")
    client = create_app("order_form", source, "http").test_client()
    writer = create_app("crm_writer", source, "cloudevent").test_client()
    yield App(client, writer, topic, crm, prefix)


def test_the_app_writes_its_state_to_its_own_database_and_nothing_to_the_default(
    crm_app: App, databases: tuple[str, str]
) -> None:
    app, (app_db, _managers_db) = crm_app, databases
    # A wrong password (the sign-in throttle), then a sign-in.
    page = app.client.get("/signin")
    wrong = {"csrf_token": hidden(page, "csrf_token"), "manager": "anna", "password": "nope"}
    assert app.client.post("/signin", data=wrong).status_code == 401
    app.sign_in("anna")
    # A manual order (its claim), delivered through crm_writer (the change marker).
    page = app.client.get("/")
    order = {
        "csrf_token": hidden(page, "csrf_token"),
        "form_token": hidden(page, "form_token"),
        "action": "order",
        "customer_name": "Olena Koval",
        "phone": "201.555.0123",
        "address": "1 Main St",
        "delivery_method": "courier",
        "channel": "phone",
        "lines-0-title": "Gift wrap",
        "lines-0-quantity": "1",
        "lines-0-price": "3.50",
    }
    assert app.client.post("/", data=order).status_code == 201
    app.deliver_published(expect=1)
    # A quarantined mail marked handled (an attention mark).
    event = _quarantine_a_good_mail(app)
    item = app.client.get(f"/attention/{event['event_id']}")
    done = app.client.post(
        f"/attention/{event['event_id']}/handled",
        data={"csrf_token": hidden(item, "csrf_token"), "note": "typed in by hand"},
    )
    assert done.status_code == 303
    app.client.post("/signout", data={"csrf_token": app.csrf("/orders")})  # a sign-out
    # The owner changes a switch and who is told of what (and the audit records both).
    app.sign_in("olga")
    page = app.client.get("/settings")
    switches = {"csrf_token": hidden(page, "csrf_token"), "outbound.orders": "on"}
    assert app.client.post("/settings/sync", data=switches).status_code == 200
    notify = {"csrf_token": hidden(page, "csrf_token"), "subscriber_id": "1002", "orders": "on"}
    assert app.client.post("/settings/notify", data=notify).status_code == 200
    assert "olga: sync_settings/crm-test.myshopify.com" in text(app.client.get("/settings"))

    assert _collections("(default)", app.prefix) == {}  # nothing of the app's in (default)
    mine = _collections(app_db, app.prefix)
    expected = {
        "signin_throttle",
        "order_form_claims",
        "crm_changes",
        "attention_marks",
        "manager_signouts",
        "sync_settings",
        "notify_preferences",
        "settings_audit",
    }
    assert expected <= set(mine), mine
    assert "managers" not in mine  # the managers stay in the operator's database


def test_the_sync_the_webhook_and_reconciliation_read_the_switches_from_the_app_database(
    databases: tuple[str, str], emulators: dict[str, str], topic: Topic, crm: Crm
) -> None:
    from orderhub.shopify.installations import Installations
    from orderhub.switches import FirestoreSwitches, Switches

    app_db, _ = databases
    prefix = unique("appsw") + "-"
    secret = "app-db-secret"
    os.environ.update(
        {
            "FIRESTORE_PREFIX": prefix,
            "ORDER_EVENTS_TOPIC": topic.name,
            "SHOPIFY_SHOP_DOMAIN": SHOP,
            "SHOPIFY_ADMIN_TOKEN": "shpat_app_db",
            "SHOPIFY_WEBHOOK_SECRETS": json.dumps({SHOP: secret}),
            "SYNC_SETTINGS_CACHE_SECONDS": "0",
        }
    )
    clear_caches()
    held = Switches().changed({"inbound.orders": "off", "outbound.orders": "on"})
    FirestoreSwitches(_client(app_db), prefix + "sync_settings").put(SHOP, held)
    # A decoy in the default database, where the switches used to be: never read.
    FirestoreSwitches(_client(), prefix + "sync_settings").put(SHOP, Switches())
    Installations(_client(app_db), prefix).save_grant(
        "other.myshopify.com", {"access_token": "t", "scope": "read_orders"}, installed=True
    )

    from orderhub.shopify_reconcile import wiring as reconcile
    from orderhub.shopify_sync import wiring as sync

    assert sync.deps().switches(SHOP).outbound_orders is True
    assert sync.installations().get("other.myshopify.com") is not None
    assert reconcile.installations().get("other.myshopify.com") is not None
    assert "other.myshopify.com" in reconcile.shops()

    # The webhook holds an order because the app's database says inbound orders are off.
    webhook = create_app("shopify_webhook", str(ROOT / "functions" / "main.py"), "http")
    body = json.dumps({**fixture("order"), "id": 90210}).encode()
    answer = webhook.test_client().post(
        "/", data=body, headers=headers(shop=SHOP, secret=secret, topic="orders/create", body=body)
    )
    assert (answer.status_code, answer.get_data(as_text=True).strip()) == (200, "held")


def test_the_notifier_reads_who_is_told_of_what_from_the_app_database(
    databases: tuple[str, str], emulators: dict[str, str]
) -> None:
    from orderhub.managers import FirestorePreferences

    app_db, _ = databases
    prefix = unique("apppref") + "-"
    os.environ.update(FIRESTORE_PREFIX=prefix, BIGQUERY_DATASET="unused", MANYCHAT_TOKEN="t" * 16)
    clear_caches()
    FirestorePreferences(_client(app_db), prefix).put("1002", {"orders": True, "alerts": False})
    FirestorePreferences(_client(), prefix).put("1002", {"orders": False, "alerts": True})

    from orderhub.notifier import wiring as notifier

    assert notifier.preferences().load()["1002"] == {"orders": True, "alerts": False}


def test_erasure_nulls_and_searches_the_app_database_too(
    databases: tuple[str, str], emulators: dict[str, str]
) -> None:
    app_db, _ = databases
    prefix = unique("apperase") + "-"
    os.environ.update(FIRESTORE_PREFIX=prefix, BIGQUERY_DATASET="unused")
    clear_caches()
    phone = "+12015550188"
    link = _client(app_db).document(f"{prefix}draft_links/x")
    link.set({"phone": phone, "expires_at": NOW})
    claim = _client().document(f"{prefix}webhook_claims/y")
    claim.set({"phone": phone})

    from orderhub.privacy_erase import wiring as privacy

    documents = privacy.documents()
    assert documents.holding([phone]) == 2
    assert documents.null_fields_holding([phone]) == 2
    assert documents.holding([phone]) == 0
    assert (link.get().to_dict() or {})["phone"] is None


def test_migrate_app_state_copies_the_old_documents_once(
    databases: tuple[str, str], emulators: dict[str, str]
) -> None:
    from orderhub.order_form.migrate_state import main, migrate
    from orderhub.switches import FirestoreSwitches, Switches

    app_db, _ = databases
    prefix = unique("appmig") + "-"
    old, new = _client(), _client(app_db)
    on = Switches().changed({"outbound.orders": "on"})
    FirestoreSwitches(old, prefix + "sync_settings").put(SHOP, on)
    old.document(f"{prefix}notify_preferences/1002").set({"orders": True, "alerts": False})
    old.document(f"{prefix}gmail_mailboxes/owner@shop.example").set(
        {"history_id": 7, "synced_at": NOW, "watch_expiration": NOW}
    )
    old.document(f"{prefix}shopify_links/a").set({"shopify_id": "1"})  # the sync's: stays

    first = migrate(old, new, prefix)
    assert first.written["sync_settings"] == first.written["notify_preferences"] == 1
    assert FirestoreSwitches(new, prefix + "sync_settings").get(SHOP).outbound_orders is True
    status = new.document(f"{prefix}gmail_status/owner@shop.example").get().to_dict()
    assert status == {"synced_at": NOW, "watch_expiration": NOW}  # no checkpoint copied
    assert "shopify_links" not in _collections(app_db, prefix)

    second = migrate(old, new, prefix)  # idempotent
    assert sum(second.written.values()) == 0 and second.same["sync_settings"] == 1
    # Changed in the app's database since: kept, reported, and the script exits 1.
    FirestoreSwitches(new, prefix + "sync_settings").put(SHOP, Switches())
    os.environ.update(FIRESTORE_PREFIX=prefix)
    assert main(["--to", app_db]) == 1
    assert FirestoreSwitches(new, prefix + "sync_settings").get(SHOP).outbound_orders is False


def test_health_reads_the_gmail_status_from_the_app_database(
    databases: tuple[str, str],
    env: Env,  # noqa: F811 (the fixture, imported)
) -> None:
    app_db, _ = databases
    assert env.renew.post("/").status_code == 200  # gmail_watch_renew: a 7-day watch
    status = _client(app_db).document(f"{os.environ['FIRESTORE_PREFIX']}gmail_status/{env.mailbox}")
    assert {"watch_expiration", "watched_at"} <= set(status.get().to_dict() or {})
    env.sign_in("olga")
    assert env.states()["gmail:watch"] == "green"
