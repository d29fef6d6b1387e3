"""The order form's flows: sign in, record an order, make a payment link. No Flask here.

Collaborators (stores, bus, Shopify client, clock) are parameters; ``wiring`` builds
the real ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orderhub import logs
from orderhub.bus import Bus
from orderhub.errors import TransientError
from orderhub.order_form.sessions import hash_password, needs_rehash, verify_password
from orderhub.order_form.stores import Manager, Taken, throttle_keys
from orderhub.shopify.admin import DraftOrder, draft_order_input
from orderhub.sources import manual


class InProgress(TransientError):
    """Another attempt with the same form token is publishing right now."""


class Managers(Protocol):
    def get(self, manager_id: str) -> Manager | None: ...

    def set_password_hash(self, manager_id: str, password_hash: str, *, now: datetime) -> None: ...


class FormClaims(Protocol):
    def take(self, key: str, record: dict[str, object], *, now: datetime) -> Taken: ...

    def confirm(self, key: str, token: str) -> None: ...

    def release(self, key: str, token: str) -> None: ...


class Throttle(Protocol):
    def attempt(self, keys: list[tuple[str, str]], *, now: datetime) -> float: ...

    def succeeded(self, keys: list[tuple[str, str]], *, now: datetime) -> None: ...


class DraftLinks(Protocol):
    def begin(self, token: str, *, manager: str, now: datetime) -> bool: ...

    def finish(self, token: str, result: dict[str, str]) -> None: ...

    def get(self, token: str) -> dict[str, object] | None: ...

    def abandon(self, token: str) -> None: ...


class DraftOrders(Protocol):
    def draft_order_create(self, draft_input: dict[str, object]) -> DraftOrder: ...


@dataclass(frozen=True)
class SignIn:
    manager: Manager | None
    wait_s: float = 0.0


def sign_in(
    *,
    manager_id: str,
    password: str,
    client_ip: str,
    managers: Managers,
    throttle: Throttle,
    now: Callable[[], datetime],
    known_device: bool = False,
) -> SignIn:
    """The manager if the password is right; ``wait_s`` > 0 while failures are backing off.

    While a wait is in force the password is not even checked, so guessing gains nothing.
    The attempt is counted (as a failure) before the password is checked and taken back
    on success, so attempts made in parallel cannot all slip through before any is counted.
    ``known_device``: the browser carries this manager's device cookie, so failures
    counted against the name from elsewhere do not hold it up (``throttle_keys``). A hash
    made at an older scrypt cost is replaced by one at today's on success.
    """
    keys = throttle_keys(manager_id, client_ip, known_device=known_device)
    wait = throttle.attempt(keys, now=now())
    if wait > 0:
        return SignIn(None, wait)
    manager = managers.get(manager_id)
    stored = manager.password_hash if manager is not None and manager.active else None
    if verify_password(password, stored) and manager is not None:
        throttle.succeeded(keys, now=now())
        if needs_rehash(manager.password_hash):
            fresh = hash_password(password)
            try:
                managers.set_password_hash(manager.id, fresh, now=now())
                manager = Manager(
                    manager.id, manager.name, fresh, manager.active, manager.signed_out_at
                )
            except TransientError as exc:  # the old hash still works; next sign-in again
                logs.warning("password rehash not saved", manager=manager.id, error=str(exc))
        return SignIn(manager)
    return SignIn(None)


@dataclass(frozen=True)
class Recorded:
    order_id: str
    duplicate: bool


def record_order(
    *,
    order: manual.ManualOrder,
    manager: str,
    form_token: str,
    shop: str,
    claims: FormClaims,
    bus: Bus,
    now: Callable[[], datetime],
    pause: Callable[[float], None] = time.sleep,
    patience_s: float = 5.0,
    mail: dict[str, str] | None = None,
) -> Recorded:
    """Publish ``order.created`` once per form token; a repeat answers ``duplicate``.

    The claim comes first: of two racing submissions exactly one publishes; the other
    waits up to ``patience_s`` for it to be confirmed (a double tap then reads "already
    saved") and gets ``InProgress`` if it is not. The claim is confirmed only after the
    publish, so "already saved" always means published: if publishing fails the claim is
    released at once, and a claim left unconfirmed (a release that failed too, a run that
    died) is taken again after its lease. A retry rebuilds the event at the first
    attempt's time, so it is the same event (same id and version) should the first
    publish have landed after all; consumers de-duplicate by ``event_id``.
    """
    at = now()
    order_id = manual.order_id_for(shop, form_token)
    key = f"manual:{shop}:{form_token}"
    taken = claims.take(key, {"order_id": order_id}, now=at)
    waited = 0.0
    while taken.state == "busy" and waited < patience_s:
        pause(0.25)
        waited += 0.25
        taken = claims.take(key, {"order_id": order_id}, now=now())
    if taken.state == "done":
        return Recorded(order_id, duplicate=True)
    if taken.state != "won":
        raise InProgress("this form is being saved by another attempt")
    event = manual.order_event(
        order, manager=manager, form_token=form_token, shop=shop, at=taken.at or at, mail=mail
    )
    try:
        bus.publish(event)
    except TransientError:
        try:
            claims.release(key, taken.token)
        except TransientError:
            pass  # the claim stays pending: the lease frees it for the retry
        raise
    try:
        claims.confirm(key, taken.token)
    except TransientError as exc:
        # Published all the same. A resubmission after the lease publishes the same event
        # again, which consumers collapse by its event_id.
        logs.warning("order published, claim unconfirmed", order_id=order_id, error=str(exc))
    logs.info(
        "manual order recorded", order_id=order_id, event_id=event["event_id"], manager=manager
    )
    return Recorded(order_id, duplicate=False)


@dataclass(frozen=True)
class Link:
    invoice_url: str
    name: str
    duplicate: bool
    pending: bool = False


def create_link(
    *,
    order: manual.ManualOrder,
    manager: str,
    form_token: str,
    links: DraftLinks,
    shopify: DraftOrders,
    now: Callable[[], datetime],
) -> Link:
    """A Shopify draft order for the items, once per form token; its checkout link.

    The customer completes it in Shopify's checkout, and the ordinary ``orders/create``
    webhook brings the order in, so nothing is published here.
    """
    if not links.begin(form_token, manager=manager, now=now()):
        found = links.get(form_token) or {}
        if found.get("status") == "done":
            return Link(str(found.get("invoice_url")), str(found.get("name")), duplicate=True)
        return Link("", "", duplicate=True, pending=True)
    draft_input = draft_order_input(
        order.lines,
        currency=order.currency,
        note=order.note,
        email=order.email,
        phone=order.phone,
        tags=["orderhub", f"channel:{order.channel}", f"manager:{manager}"],
        attributes={
            "orderhub_manager": manager,
            "orderhub_channel": order.channel,
            # The chat contact the manager named: back on the paid order (note attributes).
            **(
                {"orderhub_contact": order.chat_contact, "orderhub_contact_evidence": "manager"}
                if order.chat_contact
                else {}
            ),
        },
    )
    try:
        draft = shopify.draft_order_create(draft_input)
    except Exception:
        # Whatever went wrong, the token must not stay claimed by a draft that does not
        # exist, or the manager's retry would find "pending" forever. Re-raised as is.
        links.abandon(form_token)
        raise
    links.finish(form_token, {"invoice_url": draft.invoice_url, "name": draft.name, "id": draft.id})
    logs.info("draft order created", draft_id=draft.id, manager=manager)
    return Link(draft.invoice_url, draft.name, duplicate=False)
