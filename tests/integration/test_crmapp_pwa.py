"""The installable app and its alerts sign-up (issue 22 item 8), through functions-
framework's test client on the emulators: the manifest, icons and a service worker that
caches only the shell; a phone's PushSubscription (made by the Web Push stand-in, as
``pushManager.subscribe`` would) stored for the chosen Messenger manager, where the
notifier reads it; bad subscriptions and strangers' choices refused."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_crmapp import App, app, hidden, soup  # noqa: F401 (fixture)


@pytest.fixture
def crm_app(app: App) -> Iterator[tuple[App, Any, str]]:  # noqa: F811
    from devstack.standins.webpush import PushStandIn, new_vapid_keys
    from tests.conftest import clear_caches

    _private, public = new_vapid_keys()
    os.environ["VAPID_PUBLIC_KEY"] = public
    clear_caches()
    from google.cloud import firestore

    from orderhub.managers import FirestoreManagers as NotifyList
    from orderhub.managers import Manager

    NotifyList(firestore.Client(), app.prefix).save((Manager("1000001", "Anna K"),))
    service = PushStandIn().start()
    yield app, service, public
    service.stop()
    os.environ.pop("VAPID_PUBLIC_KEY", None)


def test_the_app_is_installable_and_its_worker_caches_the_shell_only(app: App) -> None:  # noqa: F811
    page = app.client.get("/signin")
    head = soup(page)
    assert head.find("link", rel="manifest")["href"] == "/manifest.webmanifest"
    manifest = app.client.get("/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    body = json.loads(manifest.get_data(as_text=True))
    assert body["display"] == "standalone" and body["start_url"] == "/orders"
    for icon in body["icons"]:
        png = app.client.get(icon["src"])
        size = int(icon["sizes"].split("x")[0])
        data = png.get_data()
        assert png.mimetype == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(data[16:20], "big") == size
    worker = app.client.get("/sw.js").get_data(as_text=True)
    shell = json.loads(re.search(r"const SHELL = (\[.*?\])", worker).group(1))
    assert "/offline" in shell and all(
        p == "/offline" or p.startswith(("/assets/", "/icons/")) for p in shell
    )
    assert "/orders" not in shell and "cache.put(request" in worker
    assert app.client.get("/offline").status_code == 200  # no sign-in: the worker caches it


def test_a_phone_subscribes_for_a_manager_and_the_notifier_reads_it(
    crm_app: tuple[App, Any, str],
) -> None:
    from google.cloud import firestore

    from orderhub.push import COLLECTION, FirestoreSubscriptions

    crm, service, public = crm_app
    crm.sign_in()
    page = crm.client.get("/push")
    form = soup(page).select_one("#push-form")
    assert form["data-vapid"] == public
    assert soup(page).select_one("#subscriber_id option[selected]")["value"] == "1000001"
    phone = service.subscribe(public)
    saved = crm.client.post(
        "/push/subscriptions",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "subscriber_id": "1000001",
            "subscription": json.dumps(phone),
        },
    )
    assert saved.status_code == 201 and soup(saved).select_one("#push-saved") is not None
    store = FirestoreSubscriptions(
        firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"]), crm.prefix + COLLECTION
    )
    assert [s.endpoint for s in store.for_subscriber("1000001")] == [phone["endpoint"]]

    bad = dict(phone, keys={"p256dh": "AAAA", "auth": phone["keys"]["auth"]})
    refused = crm.client.post(
        "/push/subscriptions",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "subscriber_id": "1000001",
            "subscription": json.dumps(bad),
        },
    )
    assert refused.status_code == 400
    stranger = crm.client.post(
        "/push/subscriptions",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "subscriber_id": "999",
            "subscription": json.dumps(phone),
        },
    )
    assert stranger.status_code == 422
    no_csrf = crm.client.post("/push/subscriptions", data={"subscriber_id": "1000001"})
    assert no_csrf.status_code == 403
