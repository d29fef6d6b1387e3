"""Managers hear of a new chat contact once, with a button to its live chat, if they want."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from orderhub.errors import ConfigError
from orderhub.managers import Manager, parse
from orderhub.notifier.templates import render, to_manychat
from orderhub.sources import manychat
from tests.conftest import load_json
from tests.unit.test_notifier_core import ANNA, BORIS, MemoryLedger, Rows, ScriptedSender, run

SHOP = "orderhub-demo.myshopify.com"


def touch(interaction: str | None = "2018-07-02T00:00:00+00:00", **changes: object) -> dict:
    payload = {**load_json("manychat/full_contact_data.json"), "last_interaction": interaction}
    payload.update(changes)
    body = json.dumps(payload).encode()
    at = datetime(2026, 11, 29, tzinfo=UTC)
    raw = manychat.raw_record(body, shop=SHOP, route="contacts", received_at=at)
    return manychat.normalise(body, shop=SHOP, raw=raw, received_at=at, default_country="US")  # type: ignore[return-value]


def test_the_message_names_the_contact_and_links_its_live_chat():
    rendered = render(touch())  # type: ignore[arg-type]
    assert rendered is not None
    assert rendered.text.startswith("👋 New chat contact: Subscriber Lastname")
    assert "Phone: +12015550123" in rendered.text
    assert "from instagram_ad, campaign spring_sale, ad 23850000000000001" in rendered.text
    [button] = rendered.buttons
    assert button.url == "https://manychat.com/fb234564657123456789/chat/1324564712345678901"
    [message] = to_manychat(rendered)
    assert message["buttons"][0]["caption"] == "Open live chat"


def test_a_phone_that_could_not_be_read_is_marked_as_typed():
    rendered = render(touch(phone="12-34"))  # type: ignore[arg-type]
    assert rendered is not None and "Phone: 12-34 (as typed)" in rendered.text


def test_each_manager_hears_of_a_contact_once_however_often_it_comes_back():
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    first = run(touch(), ledger, sender, rows)
    later = run(touch("2018-07-09T00:00:00+00:00"), ledger, sender, rows)
    assert sorted(first.sent) == ["111", "222"]
    assert sorted(later.duplicate) == ["111", "222"] and later.sent == []
    assert sorted(sender.calls) == ["111", "222"]


def test_a_manager_who_switched_contacts_off_is_not_told_but_still_gets_orders():
    quiet = Manager("333", "Quiet", contacts=False)
    ledger, sender, rows = MemoryLedger(), ScriptedSender(), Rows()
    summary = run(touch(), ledger, sender, rows, managers=(ANNA, quiet, BORIS))
    assert sorted(summary.sent) == ["111", "222"]
    assert "333" not in sender.calls
    assert quiet.wants("order.created") and not quiet.wants("contact.touched")


def test_the_switch_is_read_from_settings():
    managers = parse(
        [{"subscriber_id": "1", "name": "A"}, {"subscriber_id": "2", "contacts": False}],
        where="settings/managers",
    )
    assert [m.contacts for m in managers] == [True, False]
    assert managers[1].as_dict() == {"subscriber_id": "2", "name": "2", "contacts": False}
    with pytest.raises(ConfigError, match="contacts must be true or false"):
        parse([{"subscriber_id": "1", "contacts": "no"}], where="settings/managers")


def test_a_contact_that_could_not_be_read_is_an_alert_naming_the_chat_bot():
    from datetime import UTC, datetime

    from orderhub.shopify_webhook.receive import quarantine_event

    at = datetime(2026, 11, 29, tzinfo=UTC)
    raw = manychat.raw_record(b"{}", shop=SHOP, route="contacts", received_at=at)
    event = quarantine_event(
        source="manychat", shop=SHOP, raw=raw, reason="no subscriber id", ref="r", topic="contacts",
        at=at,
    )  # fmt: skip
    rendered = render(event)
    assert rendered is not None
    assert rendered.text.startswith("⚠️ A contact from the chat-bot (ManyChat) could not be read")


def test_a_whatsapp_contact_is_announced_with_its_channel_and_its_live_chat_button():
    whatsapp = load_json("manychat/whatsapp_full_contact_data_2026.json")
    rendered = render(touch(None, **whatsapp))  # type: ignore[arg-type]
    assert rendered is not None
    assert "Phone: +50688217229" in rendered.text
    assert "Channel: WhatsApp" in rendered.text
    [message] = to_manychat(rendered)
    assert message["buttons"][0]["caption"] == "Open WhatsApp chat"
