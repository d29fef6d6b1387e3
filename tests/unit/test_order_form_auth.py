"""Passwords, sessions, CSRF tokens, backoff and the form's flows with small fakes."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from bs4 import BeautifulSoup

from orderhub.errors import TransientError
from orderhub.event import Event
from orderhub.order_form import pages, service
from orderhub.order_form import sessions as auth
from orderhub.order_form.stores import Manager, Taken
from orderhub.shopify.admin import DraftOrder
from orderhub.sources import manual

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
TOKEN = "t" * 32


def test_passwords_are_salted_and_verified() -> None:
    first, second = auth.hash_password("correct horse"), auth.hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert auth.verify_password("correct horse", first)
    assert not auth.verify_password("correct hors", first)
    assert not auth.verify_password("correct horse", None)  # no such manager
    assert not auth.verify_password("x", "md5$abc")


@pytest.mark.parametrize("name,ident", [("Anna", "anna"), (" olena.k ", "olena.k")])
def test_manager_names_are_normalised(name: str, ident: str) -> None:
    assert auth.manager_id(name) == ident


@pytest.mark.parametrize("name", ["", "a b", "../x", "x" * 41])
def test_odd_manager_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        auth.manager_id(name)


def test_a_session_cookie_cannot_be_forged_or_reused_after_expiry() -> None:
    signer = auth.Signer("s" * 40)
    value, session = signer.issue("anna", "scrypt$hash", now=NOW)
    assert signer.read(value, max_age_s=60) == session
    assert signer.read(value[:-2] + "xx", max_age_s=60) is None
    assert auth.Signer("o" * 40).read(value, max_age_s=60) is None
    assert signer.read(value, max_age_s=-1) is None
    assert signer.read(None, max_age_s=60) is None


def test_csrf_tokens_are_bound_to_their_session_and_purpose() -> None:
    signer = auth.Signer("s" * 40)
    token = signer.csrf("form", "sid-1")
    assert signer.check_csrf("form", "sid-1", token)
    assert not signer.check_csrf("form", "sid-2", token)
    assert not signer.check_csrf("signin", "sid-1", token)
    assert not signer.check_csrf("form", "sid-1", None)


def test_failed_sign_ins_back_off_exponentially_to_a_cap() -> None:
    waits = [auth.delay_after(n, "manager") for n in range(1, 8)]
    assert waits == [0, 0, 1, 2, 4, 8, 16]
    assert auth.delay_after(100, "manager") == auth.MAX_DELAY_S
    assert auth.delay_after(9, "ip") == 0


# ------------------------------------------------------------------ fakes
class FakeManagers:
    def __init__(self, *managers: Manager) -> None:
        self.by_id = {m.id: m for m in managers}

    def get(self, manager_id: str) -> Manager | None:
        return self.by_id.get(manager_id)

    def set_password_hash(self, manager_id: str, password_hash: str, *, now: datetime) -> None:
        old = self.by_id[manager_id]
        self.by_id[manager_id] = Manager(old.id, old.name, password_hash, old.active)


class FakeThrottle:
    """Counts attempts as failures until taken back, like FirestoreThrottle."""

    def __init__(self, wait: float = 0.0) -> None:
        self.wait, self.failures, self.successes = wait, 0, 0

    def attempt(self, keys: list[tuple[str, str]], *, now: datetime) -> float:
        if self.wait > 0:
            return self.wait
        self.failures += 1
        return 0.0

    def succeeded(self, keys: list[tuple[str, str]], *, now: datetime) -> None:
        self.failures -= 1
        self.successes += 1


ANNA = Manager("anna", "Anna", auth.hash_password("right password"))


def sign_in(password: str, throttle: FakeThrottle, manager: Manager = ANNA) -> service.SignIn:
    return service.sign_in(
        manager_id="anna",
        password=password,
        client_ip="203.0.113.9",
        managers=FakeManagers(manager),
        throttle=throttle,
        now=lambda: NOW,
    )


def test_sign_in_counts_failures_and_clears_them_on_success() -> None:
    throttle = FakeThrottle()
    assert sign_in("wrong", throttle).manager is None
    assert sign_in("right password", throttle).manager == ANNA
    assert (throttle.failures, throttle.successes) == (1, 1)  # the good attempt taken back


def test_while_backing_off_not_even_the_right_password_gets_in() -> None:
    throttle = FakeThrottle(wait=4.0)
    result = sign_in("right password", throttle)
    assert result.manager is None and result.wait_s == 4.0


def test_a_disabled_manager_cannot_sign_in() -> None:
    disabled = Manager("anna", "Anna", ANNA.password_hash, active=False)
    assert sign_in("right password", FakeThrottle(), disabled).manager is None


class FakeClaims:
    """Like LeasedFirestoreClaims: pending until confirmed; a pending claim is taken again
    once ``lease_over`` (a stale claim of a failed or dead attempt)."""

    def __init__(self, *, fail_release: bool = False) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.released: list[str] = []
        self.fail_release = fail_release
        self.lease_over = False

    def take(self, key: str, record: dict[str, Any], *, now: datetime) -> Taken:
        found = self.docs.get(key)
        if found is None or (found["status"] == "pending" and self.lease_over):
            at = found["at"] if found else now
            self.docs[key] = {"status": "pending", "token": key + str(len(self.released)), "at": at}
            return Taken("won", self.docs[key]["token"], at)
        return Taken("done" if found["status"] == "published" else "busy")

    def confirm(self, key: str, token: str) -> None:
        self.docs[key]["status"] = "published"

    def release(self, key: str, token: str) -> None:
        if self.fail_release:
            raise TransientError("firestore away")
        self.docs.pop(key, None)
        self.released.append(key)


class FakeBus:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[Event] = []
        self.fail = fail

    def publish(self, event: Event) -> str:
        if self.fail:
            raise TransientError("pubsub down")
        self.events.append(event)
        return str(len(self.events))


ORDER = manual.ManualOrder(
    lines=(manual.Line("Gift wrap", 2, Decimal("3.50")),),
    currency="USD",
    customer_name="Olena",
    phone="+12015550123",
    email=None,
    address="1 Main St",
    delivery_method="courier",
    note=None,
    channel="phone",
)


def record(claims: FakeClaims, bus: FakeBus) -> service.Recorded:
    return service.record_order(
        order=ORDER,
        manager="anna",
        form_token=TOKEN,
        shop="s",
        claims=claims,
        bus=bus,
        now=lambda: NOW,
    )


def test_one_form_token_publishes_one_order() -> None:
    claims, bus = FakeClaims(), FakeBus()
    first, second = record(claims, bus), record(claims, bus)
    assert (first.duplicate, second.duplicate) == (False, True)
    assert first.order_id == second.order_id
    assert len(bus.events) == 1


def test_a_failed_publish_frees_the_token_for_the_managers_retry() -> None:
    claims = FakeClaims()
    with pytest.raises(TransientError):
        record(claims, FakeBus(fail=True))
    retry_bus = FakeBus()
    assert record(claims, retry_bus).duplicate is False
    assert len(retry_bus.events) == 1


class FakeLinks:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, object]] = {}

    def begin(self, token: str, *, manager: str, now: datetime) -> bool:
        if token in self.docs:
            return False
        self.docs[token] = {"status": "pending"}
        return True

    def finish(self, token: str, result: dict[str, str]) -> None:
        self.docs[token] = {"status": "done", **result}

    def get(self, token: str) -> dict[str, object] | None:
        return self.docs.get(token)

    def abandon(self, token: str) -> None:
        self.docs.pop(token, None)


class FakeShopify:
    def __init__(self) -> None:
        self.inputs: list[dict[str, object]] = []

    def draft_order_create(self, draft_input: dict[str, object]) -> DraftOrder:
        self.inputs.append(draft_input)
        return DraftOrder("gid://shopify/DraftOrder/1", "#D1", "https://shop/1/invoices/abc")


def test_one_form_token_makes_one_draft_order_and_repeats_show_its_link() -> None:
    links, shopify = FakeLinks(), FakeShopify()

    def link() -> service.Link:
        return service.create_link(
            order=ORDER,
            manager="anna",
            form_token=TOKEN,
            links=links,
            shopify=shopify,
            now=lambda: NOW,
        )

    first, second = link(), link()
    assert first.invoice_url == second.invoice_url == "https://shop/1/invoices/abc"
    assert second.duplicate and len(shopify.inputs) == 1
    line = shopify.inputs[0]["lineItems"][0]  # type: ignore[index]
    assert line["originalUnitPriceWithCurrency"] == {"amount": "3.50", "currencyCode": "USD"}


def test_pages_escape_what_managers_type() -> None:
    form = manual.read_form({"customer_name": '<script>alert("x")</script>', "channel": "phone"})
    html = pages.render(
        "form.html",
        base="",
        manager="<i>Anna</i>",
        csrf="c",
        form_token=TOKEN,
        form=form,
        lines=[dict.fromkeys(manual.LINE_FIELDS, "")],
        empty_row=dict.fromkeys(manual.LINE_FIELDS, ""),
        errors={"customer_name": "<b>bad</b>"},
        notice=None,
        currency="USD",
        total="0.00",
        delivery_methods=[("courier", "Courier")],
        link_enabled=False,
        phone_example="+1 201-555-0123",
    )
    assert "<script>alert" not in html and "<i>Anna</i>" not in html
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find(id="customer_name")["value"] == '<script>alert("x")</script>'
    assert soup.find(id="customer_name-error").get_text() == "<b>bad</b>"
    assert soup.find(id="customer_name")["aria-describedby"] == "customer_name-error"


def test_the_one_layout_escapes_the_managers_name_and_marks_the_form_tab() -> None:
    from orderhub.order_form.app import create_app

    anna = Manager("anna", "<i>Anna</i>", ANNA.password_hash)
    with create_app().test_request_context("/"):
        html = pages.render(
            "message.html", base="/crm", me=anna, csrf="c", heading="H", text="T", back="/"
        )
    assert "<i>Anna</i>" not in html
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find(class_="who").get_text() == "<i>Anna</i>"
    assert soup.find("a", attrs={"aria-current": "page"})["href"] == "/crm/"
    assert soup.find("main").get("class") is None  # the form's width, not the lists'
    assert soup.find(class_="button")["href"] == "/crm/"


def test_a_session_signed_in_before_a_sign_out_is_over_and_a_later_one_is_not() -> None:
    signer = auth.Signer("k" * 32)
    _, before = signer.issue("anna", ANNA.password_hash, now=NOW)
    _, after = signer.issue("anna", ANNA.password_hash, now=NOW + timedelta(milliseconds=5))
    signed_out = Manager("anna", "Anna", ANNA.password_hash, signed_out_at=NOW)
    assert signed_out.session_ended(before.issued_ms)
    assert not signed_out.session_ended(after.issued_ms)
    assert not ANNA.session_ended(before.issued_ms)  # never signed out
