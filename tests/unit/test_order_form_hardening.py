"""The order form's hardening (issue 11 items 2 and 6, issue 13 item 1), with small fakes:
the client address behind Google's front end, the per-name slowdown that never locks a
manager out, scrypt at OWASP's cost with rehash, keyed log digests, linear-time validation,
and "already saved" meaning published."""

import base64
import hashlib
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from orderhub.errors import TransientError
from orderhub.order_form import service
from orderhub.order_form import sessions as auth
from orderhub.order_form.client import client_address
from orderhub.order_form.stores import Manager, throttle_keys
from orderhub.sources import manual
from tests.unit.test_order_form_auth import (
    ORDER,
    TOKEN,
    FakeBus,
    FakeClaims,
    FakeManagers,
    FakeThrottle,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


# ------------------------------------------------------------ client address
@pytest.mark.parametrize(
    ("forwarded", "hops", "expected"),
    [
        ("203.0.113.9", 1, "203.0.113.9"),
        ("1.1.1.1, 203.0.113.9", 1, "203.0.113.9"),  # the client wrote 1.1.1.1
        ("1.1.1.1,2.2.2.2, 203.0.113.9", 1, "203.0.113.9"),
        ("1.1.1.1, 203.0.113.9, 130.211.0.1", 2, "203.0.113.9"),  # behind a load balancer
        ("203.0.113.9", 2, "203.0.113.9"),  # fewer entries than hops: the nearest there is
        ("garbage, 203.0.113.9", 1, "203.0.113.9"),
        ("203.0.113.9, garbage", 1, "unreadable"),  # all unreadables share one counter
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 1, "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", 1, "2001:db8:1:2::/64"),  # same /64, same counter
        ("[2001:db8:1:3::9]", 1, "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.9", 1, "203.0.113.9"),
    ],
)
def test_the_client_is_the_entry_our_front_end_appended(forwarded, hops, expected):
    assert client_address(forwarded, "10.0.0.1", hops) == expected


def test_without_forwarded_for_the_peer_address_counts():
    assert client_address(None, "198.51.100.7", 1) == "198.51.100.7"
    assert client_address("", "2001:db8::5", 1) == "2001:db8::/64"


def test_rotating_the_leftmost_entry_does_not_give_a_fresh_counter():
    seen = {client_address(f"10.9.{i}.1, 203.0.113.9", "10.0.0.1", 1) for i in range(14)}
    assert seen == {"203.0.113.9"}


# ------------------------------------------------------- name slowdown, device
def test_a_name_is_counted_from_everywhere_only_for_unknown_browsers():
    stranger = dict(throttle_keys("anna", "203.0.113.9"))
    own_phone = dict(throttle_keys("anna", "198.51.100.7", known_device=True))
    assert set(stranger) == {"manager", "ip", "name"}
    assert set(own_phone) == {"manager", "ip"}
    # The name's counter is the same whatever the address.
    assert stranger["name"] == dict(throttle_keys("anna", "192.0.2.1"))["name"]


def test_the_per_name_slowdown_is_capped_at_a_minute():
    assert auth.delay_after(auth.FREE_FAILURES["name"], "name") == 1.0
    assert auth.delay_after(10_000, "name") == 60.0
    assert auth.delay_after(10_000, "manager") == auth.MAX_DELAY_S


def test_a_device_cookie_names_its_manager_and_cannot_be_forged():
    signer = auth.Signer("s" * 40)
    value = signer.device("anna")
    assert signer.device_manager(value) == "anna"
    assert signer.device_manager(value[:-2] + "xx") is None
    assert auth.Signer("t" * 40).device_manager(value) is None
    assert signer.device_manager(None) is None


# ---------------------------------------------------------------- passwords
def test_new_hashes_use_owasps_scrypt_cost():
    encoded = auth.hash_password("a long password")
    assert encoded.split("$")[:4] == ["scrypt", str(2**17), "8", "1"]
    assert not auth.needs_rehash(encoded)


def old_hash(password: str) -> str:
    """A hash as the form made them before: n=2^14."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${2**14}$8$1${b64(salt).decode()}${b64(digest).decode()}"


def test_an_old_hash_still_verifies_and_is_replaced_on_sign_in():
    managers = FakeManagers(Manager("anna", "Anna", old_hash("right password")))
    assert auth.verify_password("right password", managers.by_id["anna"].password_hash)
    result = service.sign_in(
        manager_id="anna",
        password="right password",
        client_ip="203.0.113.9",
        managers=managers,
        throttle=FakeThrottle(),
        now=lambda: NOW,
    )
    assert result.manager is not None
    stored = managers.by_id["anna"].password_hash
    assert not auth.needs_rehash(stored) and auth.verify_password("right password", stored)
    assert result.manager.password_hash == stored  # the session's fingerprint is the new one


def test_a_wrong_password_rehashes_nothing():
    managers = FakeManagers(Manager("anna", "Anna", old_hash("right password")))
    service.sign_in(
        manager_id="anna",
        password="wrong",
        client_ip="203.0.113.9",
        managers=managers,
        throttle=FakeThrottle(),
        now=lambda: NOW,
    )
    assert auth.needs_rehash(managers.by_id["anna"].password_hash)


def test_a_local_stacks_lower_cost_holds_only_against_the_firestore_emulator(monkeypatch):
    monkeypatch.setenv(auth.LOCAL_SCRYPT_N_ENV, str(2**12))
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)  # a real Firestore
    assert auth.hash_password("a long password").split("$")[1] == str(2**17)

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8081")
    cheap = auth.hash_password("a long password")
    assert cheap.split("$")[1] == str(2**12) and not auth.needs_rehash(cheap)
    assert auth.verify_password("a long password", cheap)
    assert not auth.verify_password("another password", cheap)

    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST")  # the same hash, where it is not honoured
    assert auth.needs_rehash(cheap)  # replaced on the next sign-in at OWASP's cost

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8081")
    for wrong in ("1000", "3000", "0"):
        monkeypatch.setenv(auth.LOCAL_SCRYPT_N_ENV, wrong)
        with pytest.raises(ValueError, match=auth.LOCAL_SCRYPT_N_ENV):
            auth.hash_password("a long password")


# ---------------------------------------------------------------- log digest
def test_typed_names_are_logged_as_a_keyed_digest():
    one, other = auth.Signer("s" * 40), auth.Signer("t" * 40)
    digest = one.log_digest("anna")
    assert digest and digest == one.log_digest("anna")  # failures can be correlated
    assert digest != other.log_digest("anna")  # but not tested without the secret
    assert digest not in hashlib.sha256(b"anna").hexdigest()
    assert one.log_digest("") is None


# ------------------------------------------------------- linear-time validation
def finishes(work: Any, seconds: float = 10.0) -> bool:
    """Run ``work`` in a thread; True if it returned within ``seconds``. A catastrophic
    regex takes hours on these inputs; a linear one, milliseconds."""
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


@pytest.mark.parametrize(
    "email",
    [
        "a@" + "." * 200_000 + "@",
        "a@" + "b." * 100_000 + "@",
        "a@" + "b" * 200_000 + " ",
        "@" * 200_000,
        "a" * 200_000,
    ],
    ids=["dots", "labels", "long-label", "ats", "no-at"],
)
def test_validation_of_a_hostile_email_is_linear_and_refused(email):
    form = manual.FormInput(
        fields={
            "customer_name": "Olena",
            "phone": "+12015550123",
            "email": email,
            "address": "1 Main St",
            "delivery_method": "courier",
            "channel": "phone",
        },
        lines=[
            {"title": "Gift wrap", "quantity": "1", "price": "3.50"}
            | dict.fromkeys(("sku", "variant_id", "product_id", "variant_title"), "")
        ],
    )
    result: list[Any] = []

    def work() -> None:
        result.append(
            manual.validate(
                form,
                link_mode=False,
                default_country="US",
                currency="USD",
                delivery_methods=("courier",),
            )
        )

    assert finishes(work), "validation did not finish: the pattern backtracks"
    order, errors = result[0]
    assert order is None and "email" in errors


@pytest.mark.parametrize("email", ["olena@example.com", "first.last+tag@mail.example.co.uk"])
def test_ordinary_emails_still_pass(email):
    assert manual._EMAIL.fullmatch(email)


def test_hostile_prices_and_tokens_are_refused_quickly():
    assert finishes(lambda: manual.typed_total([{"price": "1" * 200_000, "quantity": "1"}]))
    assert finishes(lambda: manual.token_age("a" * 200_000, NOW))
    assert manual.token_age("a" * 200_000, NOW) is None


# ------------------------------------------------ "already saved" = published
def record(claims: FakeClaims, bus: FakeBus) -> service.Recorded:
    return service.record_order(
        order=ORDER,
        manager="anna",
        form_token=TOKEN,
        shop="s",
        claims=claims,
        bus=bus,
        now=lambda: NOW,
        pause=lambda seconds: None,
    )


def test_a_failed_publish_whose_release_failed_too_is_published_by_the_retry():
    claims = FakeClaims(fail_release=True)  # Firestore went away right after the claim
    with pytest.raises(TransientError):
        record(claims, FakeBus(fail=True))
    # While the lease runs, a retry is told the order is being saved, not "already saved"
    # (after waiting a little for it).
    with pytest.raises(service.InProgress):
        record(claims, FakeBus())
    claims.lease_over = True
    bus = FakeBus()
    retry = record(claims, bus)
    assert retry.duplicate is False and len(bus.events) == 1
    # Then it is confirmed: the next resubmission is the duplicate.
    again = FakeBus()
    assert record(claims, again).duplicate is True and again.events == []


def test_a_retry_publishes_the_same_event_as_the_first_attempt():
    claims = FakeClaims(fail_release=True)
    first_bus = FakeBus(fail=True)
    with pytest.raises(TransientError):
        service.record_order(
            order=ORDER,
            manager="anna",
            form_token=TOKEN,
            shop="s",
            claims=claims,
            bus=first_bus,
            now=lambda: NOW,
        )
    claims.lease_over = True
    bus = FakeBus()
    later = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
    service.record_order(
        order=ORDER,
        manager="anna",
        form_token=TOKEN,
        shop="s",
        claims=claims,
        bus=bus,
        now=lambda: later,
    )
    expected = manual.order_event(ORDER, manager="anna", form_token=TOKEN, shop="s", at=NOW)
    assert bus.events[0]["event_id"] == expected["event_id"]
    assert bus.events[0]["version"] == expected["version"]
