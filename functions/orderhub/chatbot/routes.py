"""The chatbot's two routes, with the real collaborators from ``wiring``: a contact
(``contacts.receive``) and the catalogue's Dynamic Block (``catalogue.reply``)."""

from __future__ import annotations

import time
from typing import Any

from orderhub import logs
from orderhub.chatbot import catalogue, contacts, wiring
from orderhub.chatbot.settings import ChatbotSettings
from orderhub.errors import PoisonMessage, TransientError


def contact(settings: ChatbotSettings, body: bytes) -> tuple[Any, int]:
    try:
        answer = contacts.receive(
            body,
            shop=settings.shop,
            publish=wiring.bus(),
            now=wiring.now,
            default_country=settings.default_country,
            attribution_days=settings.attribution_days,
            ignore=wiring.is_manager,
        )
    except TransientError as exc:
        logs.error("contact not accepted: publish failed", error=str(exc))
        return {"status": "error", "reason": "temporarily unavailable"}, 503
    logs.info(
        "contact " + str(answer.body.get("status")),
        contact_id=answer.body.get("contact_id"),
        event_id=answer.body.get("event_id"),
        reason=answer.body.get("reason"),
    )
    return answer.body, answer.status


def catalogue_page(
    settings: ChatbotSettings, body: bytes, url_root: str, token: str | None = None
) -> tuple[Any, int]:
    """One catalogue page; ``token``: the request came from a "More" button (no secret),
    and opens only the page its token was made for."""
    started = time.monotonic()
    try:
        asked = catalogue.parse_request(body)
    except PoisonMessage as poison:
        return {"status": "error", "reason": poison.reason}, 400
    key = catalogue.callback_key(settings.secret)
    if token is not None and not catalogue.callback_valid(key, asked, token):
        logs.warning("catalogue callback rejected: token does not match its page")
        return {"status": "error", "reason": "unauthorized"}, 401
    links = catalogue.Links(
        store_url=settings.store_url,
        currency=settings.currency,
        callback_url=(settings.public_url or wiring.public_url(url_root)) + "/catalogue",
        callback_key=key,
    )
    try:
        products = wiring.products().get()
    except TransientError as exc:
        logs.error("catalogue unavailable", error=str(exc))
        return catalogue.unavailable(asked.channel), 200
    answer = catalogue.reply(products, asked, links)
    logs.info(
        "catalogue served",
        page=asked.page,
        messages=len(answer["content"]["messages"]),
        channel=asked.channel,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return answer, 200
