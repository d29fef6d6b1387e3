"""``/health`` in the CRM app, on the stack: the Gmail stand-in's watch lapses, the page
turns red on the next load and the owners are told once in Messenger (ManyChat stand-in);
a manager gets 403. functions-framework's test clients, the emulators, nothing patched."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

from devstack.standins import gmail as gmail_standin
from tests.conftest import Crm, Topic, clear_caches, password_digest, unique
from tests.manychat import StandIn, new_subscriber_id

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long test password"
NOW = datetime.now(UTC).replace(microsecond=0)
#: This quarter's Shopify API version: supported for a year, so its line is green.
CURRENT_API = f"{NOW.year}-{(NOW.month - 1) // 3 * 3 + 1:02d}"


class Env:
    def __init__(self, crm: Any, renew: Any, mailbox: str, manychat: StandIn, told: str) -> None:
        self.crm, self.renew, self.mailbox, self.manychat, self.told = (
            crm,
            renew,
            mailbox,
            manychat,
            told,
        )

    def sign_in(self, name: str) -> Any:
        client = self.crm
        page = BeautifulSoup(client.get("/signin").get_data(as_text=True), "html.parser")
        found = page.find("input", attrs={"name": "csrf_token"})
        assert found is not None
        answer = client.post(
            "/signin",
            data={"csrf_token": str(found["value"]), "manager": name, "password": PASSWORD},
        )
        assert answer.status_code == 303, answer.get_data(as_text=True)
        return client

    def states(self) -> dict[str, str]:
        response = self.crm.get("/health")
        assert response.status_code == 200, response.get_data(as_text=True)
        page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        return {str(tr["data-key"]): str(tr["data-state"]) for tr in page.select("tr[data-key]")}


@pytest.fixture
def env(emulators: dict[str, str], topic: Topic, crm: Crm, stack: dict[str, str]) -> Iterator[Env]:
    prefix = unique("health") + "-"
    mailbox = f"{unique('owner')}@shop.example"
    os.environ.update(
        {
            "ORDER_EVENTS_TOPIC": topic.name,
            "FIRESTORE_PREFIX": prefix,
            "SHOPIFY_SHOP_DOMAIN": "health-test.myshopify.com",
            "ORDER_FORM_SESSION_SECRET": "h" * 40,
            "CRM_DATASET": crm.dataset,
            "SHOPIFY_API_VERSION": CURRENT_API,
            "GMAIL_MAILBOX": mailbox,
            "GMAIL_API_URL": stack["GMAIL_API_URL"],
            "GMAIL_PUSH_TOPIC": "gmail-push",
            "MANYCHAT_API_URL": stack["MANYCHAT_API_URL"],
            "MANYCHAT_TOKEN": stack["MANYCHAT_TOKEN"],
        }
    )
    for key in ("ORDER_FORM_SHOPIFY_TOKEN", "MANAGERS_DATABASE", "GMAIL_REFRESH_TOKEN"):
        os.environ.pop(key, None)
    clear_caches()
    from google.cloud import firestore

    from orderhub.managers import FirestoreManagers as NotifyList
    from orderhub.managers import Manager as Told
    from orderhub.order_form.stores import FirestoreAccounts, Manager

    client = firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"])
    managers = FirestoreAccounts(client, prefix + "managers")
    digest = password_digest(PASSWORD)
    managers.put(Manager("anna", "Anna K", digest), now=NOW)
    managers.put(Manager("olga", "Olga P", digest, role="owner"), now=NOW)
    told = new_subscriber_id()
    NotifyList(client, prefix).save((Told(told, "Olga P"),))
    import functions_framework

    source = str(ROOT / "functions" / "main.py")
    crm_app = functions_framework.create_app("order_form", source, "http").test_client()
    renew = functions_framework.create_app("gmail_watch_renew", source, "http").test_client()
    yield Env(crm_app, renew, mailbox, StandIn(stack["MANYCHAT_API_URL"]), told)
    for key in ("GMAIL_MAILBOX", "CRM_DATASET", "SHOPIFY_API_VERSION"):
        os.environ.pop(key, None)


def test_a_lapsed_gmail_watch_turns_the_page_red_and_tells_the_owners_once(env: Env) -> None:
    assert env.renew.post("/").status_code == 200  # a 7-day watch, as Gmail grants
    env.sign_in("olga")
    before = env.states()
    assert before["gmail:watch"] == "green", before
    assert {"source:shopify", "source:manual", "shopify:api", "sync:failed"} <= set(before)
    assert env.manychat.calls(env.told) == []

    gmail_standin.watch_lifetime(os.environ["GMAIL_API_URL"], env.mailbox, 1)
    assert env.renew.post("/").status_code == 200  # the last renewal; then it is let lapse
    time.sleep(1.5)

    after = env.states()  # one refresh
    assert after["gmail:watch"] == "red", after
    calls = env.manychat.calls(env.told)
    assert len(calls) == 1, calls
    assert "Gmail watch" in str(calls[0])

    assert env.states()["gmail:watch"] == "red"  # still red: no second message
    assert len(env.manychat.calls(env.told)) == 1


def test_a_manager_gets_403(env: Env) -> None:
    env.sign_in("anna")
    assert env.crm.get("/health").status_code == 403
