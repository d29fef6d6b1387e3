"""order_form through functions-framework's test client, against the emulators.

Each test has its own Firestore prefix, Pub/Sub topic and BigQuery dataset, and a
Shopify Admin API stand-in of its own; nothing of ours is patched.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from bs4 import BeautifulSoup

from tests.conftest import (
    Crm,
    Topic,
    clear_caches,
    cloud_event,
    password_digest,
    post_cloud_event,
    unique,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "event.v1.json").read_text())
SHOP = "form-test.myshopify.com"
PASSWORD = "a long test password"
ADMIN_TOKEN = "shpat_test_token"


@pytest.fixture
def shopify_admin() -> Iterator[Any]:
    from devstack.standins.shopify_admin import ShopifyAdminStandIn

    standin = ShopifyAdminStandIn(token=ADMIN_TOKEN, shop=SHOP).start()
    yield standin
    standin.stop()


@pytest.fixture
def form(emulators: dict[str, str], topic: Topic, crm: Crm, shopify_admin: Any) -> Form:
    prefix = unique("form") + "-"
    os.environ.update(
        {
            "ORDER_EVENTS_TOPIC": topic.name,
            "FIRESTORE_PREFIX": prefix,
            "SHOPIFY_SHOP_DOMAIN": SHOP,
            "ORDER_FORM_SESSION_SECRET": "x" * 40,
            "ORDER_FORM_DEFAULT_COUNTRY": "US",
            "SHOPIFY_ADMIN_URL": shopify_admin.url,
            "ORDER_FORM_SHOPIFY_TOKEN": ADMIN_TOKEN,
        }
    )
    clear_caches()
    from google.cloud import firestore

    from orderhub.order_form.stores import FirestoreAccounts, Manager

    managers = FirestoreAccounts(
        firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"]), prefix + "managers"
    )
    managers.put(Manager("anna", "Anna K", password_digest(PASSWORD)), now=datetime.now(UTC))
    import functions_framework

    app = functions_framework.create_app(
        target="order_form", source=str(ROOT / "functions" / "main.py"), signature_type="http"
    )
    return Form(app.test_client(), topic, crm, managers, shopify_admin)


class Form:
    def __init__(self, client: Any, topic: Topic, crm: Crm, managers: Any, admin: Any) -> None:
        self.client, self.topic, self.crm = client, topic, crm
        self.managers, self.admin = managers, admin

    def sign_in(self, name: str = "anna", password: str = PASSWORD) -> Any:
        page = self.client.get("/signin")
        return self.client.post(
            "/signin",
            data={"csrf_token": hidden(page, "csrf_token"), "manager": name, "password": password},
        )

    def open(self) -> Any:
        page = self.client.get("/")
        assert page.status_code == 200
        return page


def hidden(page: Any, name: str) -> str:
    found = BeautifulSoup(page.get_data(as_text=True), "html.parser").find(
        "input", attrs={"name": name}
    )
    assert found is not None, f"no {name} on the page"
    return str(found["value"])


def order_values(page: Any, **overrides: str) -> dict[str, str]:
    values = {
        "csrf_token": hidden(page, "csrf_token"),
        "form_token": hidden(page, "form_token"),
        "action": "order",
        "customer_name": "Olena Koval",
        "phone": "201-555-0123",
        "email": "",
        "address": "1 Main St, Springfield",
        "delivery_method": "courier",
        "channel": "instagram",
        "note": "",
        "lines-0-title": "IPod Nano - 8GB — Pink",
        "lines-0-sku": "IPOD2008PINK",
        "lines-0-variant_id": "808950810",
        "lines-0-quantity": "2",
        "lines-0-price": "199.00",
        "lines-1-title": "Gift wrap",
        "lines-1-quantity": "1",
        "lines-1-price": "3.50",
    }
    values.update(overrides)
    return values


def soup(response: Any) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_without_sign_in_nothing_but_the_sign_in_page_is_served(form: Form) -> None:
    page = form.client.get("/")
    assert page.status_code == 303 and page.headers["Location"].endswith("/signin")
    posted = form.client.post("/", data={"customer_name": "x"})
    assert posted.status_code == 401
    assert soup(posted).find("input", attrs={"name": "form_token"}) is None
    assert soup(posted).find(id="password") is not None  # the sign-in page instead
    assert form.client.get("/products?q=ipod").status_code == 401
    assert form.topic.pull(expect=0, timeout=1) == []


def test_the_page_is_served_with_its_script_and_a_strict_policy(form: Form) -> None:
    page = form.client.get("/signin")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    for src in [s["src"] for s in soup(page).find_all("script")] + [
        link["href"] for link in soup(page).find_all("link", rel="stylesheet")
    ]:
        asset = form.client.get(src)
        assert asset.status_code == 200 and asset.mimetype in ("text/javascript", "text/css")


def test_sign_in_sets_a_hardened_session_cookie(form: Form) -> None:
    response = form.sign_in()
    assert response.status_code == 303
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("oh_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http on localhost only
    assert soup(form.open()).find(id="order-form") is not None

    https = form.client.get("/signin", base_url="https://orders.example.com")
    login = form.client.post(
        "/signin",
        base_url="https://orders.example.com",
        data={"csrf_token": hidden(https, "csrf_token"), "manager": "anna", "password": PASSWORD},
    )
    secure = next(c for c in login.headers.getlist("Set-Cookie") if c.startswith("oh_session="))
    assert "Secure" in secure


def test_repeated_wrong_passwords_are_slowed_down(form: Form) -> None:
    # Each wrong password costs a full scrypt (about a second here, more under load), and
    # the wait doubles per failure, so within a few tries one meets a wait still running.
    statuses: list[int] = []
    while 429 not in statuses and len(statuses) < 12:
        statuses.append(form.sign_in(password="wrong guess").status_code)
    assert statuses[0] == 401
    assert 429 in statuses
    refused = form.sign_in()  # even the right password waits
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert form.client.get("/").status_code == 303


def test_a_valid_order_is_published_once_as_a_manual_order(form: Form) -> None:
    form.sign_in()
    page = form.open()
    values = order_values(page)

    saved = form.client.post("/", data=values)
    assert saved.status_code == 201
    number = soup(saved).find(id="order-number").get_text()
    assert soup(saved).find(id="order-total").get_text() == "401.50"

    again = form.client.post("/", data=values)  # a double tap, or a resubmitted page
    assert again.status_code == 200
    assert soup(again).find(id="order-number").get_text() == number
    assert "Already saved" in again.get_data(as_text=True)

    messages = form.topic.pull(expect=2, timeout=3)
    assert len(messages) == 1
    event = json.loads(messages[0].data)
    jsonschema.validate(event, SCHEMA)
    entity = event["entity"]
    assert (event["event_type"], event["source"], event["shop"]) == (
        "order.created",
        "manual",
        SHOP,
    )
    assert entity["order_id"] == number
    assert entity["manager"] == "anna"
    assert entity["attribution"]["channel"] == "instagram"
    assert entity["customer"]["phone"] == "+12015550123"
    assert [line["quantity"] for line in entity["line_items"]] == [2, 1]

    # crm_writer, fed the message as Pub/Sub delivers it, makes it one row of `orders`.
    import functions_framework

    writer = functions_framework.create_app(
        target="crm_writer", source=str(ROOT / "functions" / "main.py"), signature_type="cloudevent"
    ).test_client()
    for _ in range(2):  # at-least-once delivery
        assert post_cloud_event(writer, cloud_event(messages[0].data)).status_code == 200
    rows = form.crm.query(
        "SELECT order_id, source, manager, attribution.channel AS channel, total, status"
        " FROM {ds}.orders"
    )
    assert rows == [
        {
            "order_id": number,
            "source": "manual",
            "manager": "anna",
            "channel": "instagram",
            "total": Decimal("401.50"),
            "status": "pending",
        }
    ]


def test_a_bad_phone_returns_the_form_with_the_error_in_place_and_nothing_lost(
    form: Form,
) -> None:
    form.sign_in()
    page = form.open()
    values = order_values(page, phone="12345", customer_name='<b>Olena</b> "O"')
    response = form.client.post("/", data=values)
    assert response.status_code == 422
    html = soup(response)
    phone = html.find(id="phone")
    assert phone["aria-invalid"] == "true" and phone["value"] == "12345"
    error = html.find(id="phone-error")
    assert "not a valid phone number" in error.get_text()
    assert phone.find_next_sibling(class_="error") is error  # right under the field
    assert html.find(id="customer_name")["value"] == '<b>Olena</b> "O"'  # kept, and escaped
    assert "<b>Olena</b>" not in response.get_data(as_text=True)
    assert html.find(id="lines-1-price")["value"] == "3.50"
    assert html.find("input", attrs={"name": "channel", "value": "instagram"}).has_attr("checked")
    assert hidden(response, "form_token") == values["form_token"]  # fixing it: still one order
    assert form.topic.pull(expect=0, timeout=1) == []


def test_a_page_too_old_to_be_remembered_is_refused_not_saved_twice(form: Form) -> None:
    from datetime import timedelta

    from orderhub.sources.manual import new_form_token

    form.sign_in()
    stale = new_form_token(datetime.now(UTC) - timedelta(days=3))
    refused = form.client.post("/", data=order_values(form.open(), form_token=stale))
    assert refused.status_code == 400
    assert "too old" in refused.get_data(as_text=True)
    assert form.topic.pull(expect=0, timeout=1) == []


def test_logs_carry_ids_but_never_the_customers_details(
    form: Form, capsys: pytest.CaptureFixture[str]
) -> None:
    form.sign_in()
    page = form.open()
    form.client.post("/", data=order_values(page, phone="12"))  # back with an error
    form.client.post("/", data=order_values(page))  # saved
    logged = capsys.readouterr().out
    assert "manual order recorded" in logged and "phone" in logged  # a field name only
    for detail in ("Olena", "Koval", "201-555-0123", "2015550123", "Main St", PASSWORD):
        assert detail not in logged


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(form: Form) -> None:
    form.sign_in()
    values = order_values(form.open())
    missing = {k: v for k, v in values.items() if k != "csrf_token"}
    assert form.client.post("/", data=missing).status_code == 403
    assert form.client.post("/", data={**values, "csrf_token": "forged"}).status_code == 403
    assert form.topic.pull(expect=0, timeout=1) == []


def test_sign_in_without_its_csrf_token_is_refused(form: Form) -> None:
    form.client.get("/signin")
    refused = form.client.post("/signin", data={"manager": "anna", "password": PASSWORD})
    assert refused.status_code == 403
    assert form.client.get("/").status_code == 303


def test_a_new_password_or_removal_ends_the_managers_sessions(form: Form) -> None:
    from orderhub.order_form import sessions as auth
    from orderhub.order_form.stores import Manager

    form.sign_in()
    form.open()
    form.managers.put(
        Manager("anna", "Anna K", auth.hash_password("another password!")), now=datetime.now(UTC)
    )
    assert form.client.get("/").status_code == 303


def test_sign_out_ends_the_session(form: Form) -> None:
    form.sign_in()
    page = form.open()
    out = form.client.post("/signout", data={"csrf_token": hidden(page, "csrf_token")})
    assert out.status_code == 303
    assert form.client.get("/").status_code == 303


def test_sign_out_ends_copies_of_the_session_cookie_too(form: Form) -> None:
    """A copy of the cookie (another tab, another phone, a stolen one) stops working."""
    form.sign_in()
    page = form.open()
    cookie = form.client.get_cookie("oh_session")
    assert cookie is not None
    form.client.post("/signout", data={"csrf_token": hidden(page, "csrf_token")})

    form.client.set_cookie("oh_session", cookie.value)  # the copy, replayed
    assert form.client.get("/").status_code == 303

    form.sign_in()  # signing in again works at once
    assert form.client.get("/").status_code == 200


def test_product_search_reads_the_products_view_with_parameters(form: Form) -> None:
    from devstack.shopify_sender import fixture
    from orderhub import gcp
    from orderhub.sinks.bigquery import BigQueryInserter, write_event
    from orderhub.sources.shopify import Delivery, normalise

    body = json.dumps(fixture("product")).encode()
    now = datetime.now(UTC)
    delivery = Delivery("products/create", SHOP, "w1", None, None, now)
    raw = {"raw_id": "r1", "kind": "shopify_webhook", "received_at": now.isoformat(), "sha256": ""}
    client = gcp.bigquery_client(
        os.environ["GOOGLE_CLOUD_PROJECT"], os.environ["BIGQUERY_EMULATOR_HOST"]
    )
    write_event(
        normalise(delivery, body, raw),  # type: ignore[arg-type]
        inserter=BigQueryInserter(client, form.crm.dataset),
        now=lambda: now,
    )
    form.sign_in()

    pink = form.client.get("/products?q=pink").get_json()["products"]
    assert [(p["sku"], p["price"]) for p in pink] == [("IPOD2008PINK", "199.00")]
    by_sku = form.client.get("/products?q=ipod2008").get_json()["products"]
    assert len(by_sku) == 4
    injected = form.client.get("/products", query_string={"q": "' OR 1=1 --"})
    assert injected.status_code == 200 and injected.get_json()["products"] == []


def test_link_mode_makes_one_draft_order_and_shows_its_checkout_link(form: Form) -> None:
    form.sign_in()
    page = form.open()
    values = {
        k: v
        for k, v in order_values(page, action="link").items()
        if k.startswith("lines-") or k in ("csrf_token", "form_token", "action", "channel")
    }
    first = form.client.post("/", data=values)
    assert first.status_code == 200
    url = soup(first).find(id="invoice-url")["value"]
    drafts = form.admin.store.all("draft_orders")
    assert len(drafts) == 1 and drafts[0]["invoiceUrl"] == url
    assert re.match(rf"https://{SHOP}/\d+/invoices/[0-9a-f]+$", url)
    lines = drafts[0]["input"]["lineItems"]
    assert lines[0]["variantId"] == "gid://shopify/ProductVariant/808950810"
    assert lines[1]["title"] == "Gift wrap"
    # Who took it and where the customer came from travel as tags, so the paid order that
    # the webhook later brings in is still the manager's (sources/shopify.py reads them).
    assert {"channel:" + values["channel"], "manager:anna"} <= set(drafts[0]["input"]["tags"])
    assert soup(first).find(attrs={"data-copy": "#invoice-url"}) is not None

    again = form.client.post("/", data=values)
    assert soup(again).find(id="invoice-url")["value"] == url
    assert len(form.admin.store.all("draft_orders")) == 1
    assert form.topic.pull(expect=0, timeout=1) == []  # the Shopify webhook brings the order


def test_link_mode_shows_shopifys_refusal_next_to_the_kept_form(form: Form) -> None:
    form.sign_in()
    page = form.open()
    values = order_values(page, action="link", **{"lines-0-variant_id": "not-a-number"})
    refused = form.client.post("/", data=values)
    assert refused.status_code == 422
    assert "Variant is invalid" in soup(refused).find(id="form-notice").get_text()
    assert soup(refused).find(id="lines-1-title")["value"] == "Gift wrap"


def test_a_strangers_failed_sign_ins_do_not_lock_the_manager_out(emulators) -> None:
    """Backoff counts a name per client address: a stranger hammering 'anna' from one
    address is slowed down there, while Anna signs in from her phone as usual."""
    from datetime import UTC, datetime

    from google.cloud import firestore

    from orderhub.order_form.stores import FirestoreThrottle, throttle_keys

    throttle = FirestoreThrottle(
        firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"]), unique("throttle")
    )
    now = datetime.now(UTC)
    stranger = throttle_keys("anna", "203.0.113.9")
    for _ in range(6):
        throttle.attempt(stranger, now=now)  # each one a wrong password
    assert throttle.attempt(stranger, now=now) > 0
    assert throttle.attempt(throttle_keys("anna", "198.51.100.7"), now=now) == 0


def test_parallel_guesses_get_no_more_tries_than_sequential_ones(emulators) -> None:
    """Attempts are counted before the password is checked, in one transaction per
    attempt: 12 guesses at once get through no more often than one after another would."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from google.cloud import firestore

    from orderhub.errors import TransientError
    from orderhub.order_form.sessions import FREE_FAILURES
    from orderhub.order_form.stores import FirestoreThrottle, throttle_keys

    throttle = FirestoreThrottle(
        firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"]), unique("throttle")
    )
    now = datetime.now(UTC)
    keys = throttle_keys("anna", "203.0.113.9")

    def guess(_: int) -> str:
        try:
            return "checked" if throttle.attempt(keys, now=now) == 0 else "wait"
        except TransientError:
            return "busy"  # contention: the transaction gave up; the page says try again

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(guess, range(12)))

    allowed = FREE_FAILURES["manager"]  # the last of these sets the lock (delay_after)
    assert outcomes.count("checked") <= allowed, outcomes
    # Then one at a time until locked: burst and sequel together got exactly `allowed`.
    later = 0
    while throttle.attempt(keys, now=now) == 0:
        later += 1
        assert later <= allowed, "never locked"
    assert outcomes.count("checked") + later == allowed, (outcomes, later)


def test_a_successful_sign_in_is_not_counted_against_the_address(emulators) -> None:
    from datetime import UTC, datetime

    from google.cloud import firestore

    from orderhub.order_form.sessions import FREE_FAILURES
    from orderhub.order_form.stores import FirestoreThrottle, throttle_keys

    throttle = FirestoreThrottle(
        firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"]), unique("throttle")
    )
    now = datetime.now(UTC)
    office = "198.51.100.7"  # many managers behind one address
    for i in range(FREE_FAILURES["ip"] + 5):
        keys = throttle_keys(f"manager{i}", office)
        assert throttle.attempt(keys, now=now) == 0
        throttle.succeeded(keys, now=now)
    assert throttle.attempt(throttle_keys("late", office), now=now) == 0


def test_firestore_away_during_sign_in_answers_503_not_a_crash(
    form: Form, emulators: dict[str, str]
) -> None:
    from tests.faults import Outage

    outage = Outage(emulators["FIRESTORE_EMULATOR_HOST"])
    try:
        os.environ["FIRESTORE_EMULATOR_HOST"] = outage.address
        clear_caches()  # the form's clients are made on its first request: through the proxy
        page = form.client.get("/signin")
        outage.cut()
        response = form.client.post(
            "/signin",
            data={
                "csrf_token": hidden(page, "csrf_token"),
                "manager": "anna",
                "password": PASSWORD,
            },
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "Please try again" in response.get_data(as_text=True)
        outage.restore()
        assert form.sign_in().status_code == 303  # and then it works
    finally:
        outage.close()


def test_managers_signing_in_at_once_from_one_office_all_get_through(emulators) -> None:
    """The address's counter is shared by everyone behind it: sign-ins that meet on it at
    the same moment take turns (each still counted before its password is checked), and
    none is answered "busy, try again"."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from google.cloud import firestore

    from orderhub.errors import TransientError
    from orderhub.order_form.stores import FirestoreThrottle, throttle_keys

    throttle = FirestoreThrottle(
        firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"]), unique("throttle")
    )
    now = datetime.now(UTC)
    office = "198.51.100.7"
    together = threading.Barrier(6)

    def sign_in(i: int) -> str:
        keys = throttle_keys(f"manager{i}", office, known_device=True)
        together.wait()
        try:
            waited = throttle.attempt(keys, now=now)
        except TransientError:
            return "busy"
        throttle.succeeded(keys, now=now)
        return "checked" if waited == 0 else "wait"

    for _round in range(3):
        with ThreadPoolExecutor(6) as pool:
            outcomes = list(pool.map(sign_in, range(6)))
        assert outcomes == ["checked"] * 6, outcomes
