"""The CRM app's plain core: search terms, settings changes with their audit, the
notifier's preferences, and reading a quarantined mail again (small fakes, no I/O)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from orderhub.managers import Manager, apply_preferences
from orderhub.order_form import admin, attention, queries
from orderhub.sources import email, mail
from orderhub.switches import Switches

ROOT = Path(__file__).resolve().parents[2]
MAILS = ROOT / "tests" / "fixtures" / "email"
AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "typed",
    ["(201) 555-0123", "201.555.0123", "+1 201 555 0123", "00 1 201 555 0123", "2015550123"],
)
def test_a_phone_in_any_format_is_one_number(typed: str) -> None:
    assert queries.phone_digits(typed, "US") == "12015550123"


@pytest.mark.parametrize("typed", ["Olena", "olena@example.com", "12", "#1001", ""])
def test_names_mails_and_short_numbers_are_not_phones(typed: str) -> None:
    assert queries.phone_digits(typed, "US") is None


def test_a_search_is_read_as_phone_email_or_name() -> None:
    assert queries.who_from_search("(201) 555-0123", "US") == queries.Who(digits="12015550123")
    assert queries.who_from_search(" Olena@Example.com ", "US") == queries.Who(
        email="olena@example.com"
    )
    assert queries.who_from_search("Koval", "US") == queries.Who(name="koval")
    assert queries.who_from_search("k", "US") is None


def test_customer_keys_round_trip_and_refuse_anything_else() -> None:
    for who in (queries.Who(digits="12015550123"), queries.Who(email="a@b.example")):
        assert queries.Who.from_key(who.key()) == who
    assert queries.Who.from_key("p12") is None and queries.Who.from_key("x:1") is None
    assert queries.customer_key({"phone": "+1 201 555 0123"}) == "p12015550123"
    assert queries.customer_key({"email": "A@B.example"}) == "e:a@b.example"
    assert queries.customer_key({}) is None


def test_the_order_filter_keeps_only_known_values() -> None:
    flt = queries.OrderFilter.from_args(
        {"source": "shopify", "status": "nonsense", "page": "x", "q": " 1001 "}
    )
    assert (flt.source, flt.status, flt.page, flt.q) == ("shopify", "", 1, "1001")
    assert flt.args(page=2) == {"source": "shopify", "q": "1001", "page": 2}


def test_a_short_order_number_is_searched_as_a_number_not_a_phone() -> None:
    seen: list[dict[str, Any]] = []

    def run(sql: str, params: Any) -> list[dict[str, Any]]:
        seen.append({name: value for name, _type, value in params})
        return []

    window = queries.Window(now=AT)
    queries.list_orders(run, queries.OrderFilter(q="#1001"), window, default_country="US")
    queries.list_orders(run, queries.OrderFilter(q="201 555 0123"), window, default_country="US")
    assert [s["digits"] for s in seen] == ["", "12015550123"]
    assert all(s["since"] == window.since and s["limit"] == queries.PAGE_SIZE + 1 for s in seen)


class FakeSwitches:
    def __init__(self) -> None:
        self.doc: dict[str, Switches] = {}

    def get(self, shop: str) -> Switches:
        return self.doc.get(shop, Switches())

    def put(self, shop: str, switches: Switches) -> None:
        self.doc[shop] = switches


class FakeAudit:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def record(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        return self.entries[-limit:]


def test_a_switch_change_is_written_and_each_change_audited() -> None:
    store, audit = FakeSwitches(), FakeAudit()
    form = {"outbound.orders": "on", "sources.manual": "on", "sources.email:*": "on"}
    assignments = admin.form_assignments(form, store.get("s"))
    changes = admin.change_switches(
        store, audit, shop="s", assignments=assignments, by="olga", now=AT
    )
    assert [(c.setting, c.old, c.new) for c in changes] == [("outbound.orders", False, True)]
    assert store.get("s").outbound_orders
    assert audit.entries == [
        {
            "at": AT,
            "by": "olga",
            "area": "sync_settings/s",
            "setting": "outbound.orders",
            "old": False,
            "new": True,
        }
    ]
    # The same form again changes nothing and records nothing.
    assert (
        admin.change_switches(store, audit, shop="s", assignments=assignments, by="o", now=AT) == []
    )
    assert len(audit.entries) == 1
    with pytest.raises(ValueError, match="orders_per_minute"):
        admin.change_switches(
            store, audit, shop="s", assignments={"orders_per_minute": "x"}, by="o", now=AT
        )


def test_preferences_switch_off_what_a_manager_is_not_told() -> None:
    managers = (Manager("1", "Anna"), Manager("2", "Ivan", contacts=False))
    chosen = apply_preferences(managers, {"1": {"alerts": False}, "9": {"orders": False}})
    anna, ivan = chosen
    assert anna.wants("order.created") and not anna.wants("payload.quarantined")
    assert anna.wants("contact.touched")
    assert ivan.wants("privacy.requested") and not ivan.wants("contact.touched")
    assert apply_preferences(managers, {}) == managers


class FakeBus:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> str:
        self.events.append(event)
        return str(len(self.events))


def _stored_mail(name: str) -> dict[str, Any]:
    """A quarantined mail as raw_events keeps it (what gmail_ingest stored)."""
    data = (MAILS / name).read_bytes()
    message = {
        "id": "18c0ffee000000aa",
        "threadId": "18c0ffee000000aa",
        "internalDate": str(int(AT.timestamp() * 1000)),
        "raw": base64.urlsafe_b64encode(data).decode().rstrip("="),
    }
    rules = yaml.safe_load((email.RULES_DIR / "smakuy.yaml").read_text())
    rules["fields"]["phone"] = [{"css": ".no-such-phone"}]
    [(outcome, event, _)] = mail.message_events(
        mailbox="m@x.example", message=message, rules=[email.load_rules(rules)], now=AT
    )
    assert outcome == "quarantined" and event is not None
    raw = dict(event["raw"])
    raw["shop"] = event["shop"]
    return raw


def test_a_mail_read_again_with_fixed_rules_publishes_the_same_event_every_time() -> None:
    raw = _stored_mail("smakuy_one_item.eml")
    bus = FakeBus()
    first = attention.replay_mail(raw, rules=email.shipped_rules(), bus=bus, now=AT)
    second = attention.replay_mail(raw, rules=email.shipped_rules(), bus=bus, now=datetime.now(UTC))
    assert first.published == second.published == ("SM-48213",)
    assert first.event_ids == second.event_ids
    assert [e["event_id"] for e in bus.events] == list(first.event_ids) * 2
    assert first.still_quarantined is None


def test_a_mail_still_unreadable_publishes_nothing_and_says_why() -> None:
    raw = _stored_mail("smakuy_one_item.eml")
    bus = FakeBus()
    rules = yaml.safe_load((email.RULES_DIR / "smakuy.yaml").read_text())
    rules["fields"]["phone"] = [{"css": ".no-such-phone"}]
    replay = attention.replay_mail(raw, rules=[email.load_rules(rules)], bus=bus, now=AT)
    assert replay.published == () and "phone" in (replay.still_quarantined or "")
    assert bus.events == []
    with pytest.raises(attention.NotReplayable):
        attention.replay_mail({**raw, "kind": "shopify_webhook"}, rules=[], bus=bus, now=AT)


def test_what_to_do_for_a_manager_outside_messengers_24_hours() -> None:
    assert "24 hours" in queries.what_to_do_notification({"manychat_code": 3011})
    assert "resync" in queries.what_to_do_sync({"reason": "Shopify refused the phone"})


def test_the_tables_infra_grants_the_app_are_the_tables_its_queries_name() -> None:
    source = (ROOT / "functions" / "orderhub" / "order_form" / "queries.py").read_text()
    import re

    named = set(re.findall(r"`\{t\}\.(\w+)`", source))
    assert named == set(queries.TABLES_READ)


def test_the_shopify_admin_link_is_an_https_link_or_none() -> None:
    assert queries.admin_link({"shopify_admin_url": "javascript:alert(1)"}) is None
    assert (
        queries.admin_link({"source": "shopify", "order_id": "42", "shop": "s.myshopify.com"})
        == "https://admin.shopify.com/store/s/orders/42"
    )
    link = "https://admin.shopify.com/store/s/orders/7"
    assert queries.admin_link({"source": "manual", "shopify_admin_url": link}) == link
