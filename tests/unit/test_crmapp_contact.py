"""Contact links (issue 22): only https chat links from data, a phone as typed still dials."""

from __future__ import annotations

from orderhub.order_form import contact


def test_a_national_number_dials_and_a_hostile_chat_link_is_left_out() -> None:
    found = contact.links(
        "912 345 678", {"live_chat_url": "javascript:alert(1)", "name": "X"}, default_country="PT"
    )
    assert [link["href"] for link in found] == [
        "tel:+351912345678",
        "https://wa.me/351912345678",
        "viber://chat?number=%2B351912345678",
    ]


def test_no_phone_and_no_contact_means_no_buttons() -> None:
    assert contact.links(None, None, default_country="US") == []
    assert contact.links("12", None, default_country="US") == []
    assert contact.contact_name({"first_name": "Ana", "last_name": "K"}) == "Ana K"


def test_the_live_chat_button_says_the_channel_it_opens() -> None:
    live = "https://app.manychat.com/fb1001816/chat/1515862162"
    whatsapp = contact.links(
        None, {"live_chat_url": live, "name": "Hans", "channel": "whatsapp"}, default_country="CR"
    )
    assert whatsapp == [{"kind": "live-whatsapp", "href": live, "label": "WhatsApp chat · Hans"}]
    old_row = contact.links(None, {"live_chat_url": live, "name": "Ann"}, default_country="US")
    assert old_row[0]["label"] == "Messenger · Ann"  # rows from before channels: Messenger
