"""HTTP adapter for ManyChat's External Request and Dynamic Block calls (``orderhub.chatbot``).

Routes: ``POST /contacts`` and ``POST /catalogue``. Every request must carry the shared
secret in ``CHATBOT_SECRET_HEADER``: otherwise 401, and nothing is read or stored.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import Any

from orderhub import gcp, logs
from orderhub.bus import PubSubBatchPublisher
from orderhub.chatbot import catalogue, contacts
from orderhub.chatbot.publish import BatchedBus
from orderhub.chatbot.settings import ChatbotSettings
from orderhub.errors import PoisonMessage, TransientError

#: ManyChat gives up after a few seconds; publish must be done (or given up) well before.
PUBLISH_DEADLINE_S = 4.0


@functools.cache
def _settings() -> ChatbotSettings:
    return ChatbotSettings.from_env()


@functools.cache
def _bus() -> BatchedBus:
    settings = _settings()
    publisher = PubSubBatchPublisher(
        gcp.batch_publisher(), gcp.topic_path(settings.project, settings.topic)
    )
    return BatchedBus(publisher, deadline_s=PUBLISH_DEADLINE_S)


@functools.cache
def _products() -> catalogue.ProductCache:
    settings = _settings()
    client = gcp.bigquery_client(settings.project, settings.bigquery_endpoint)
    load = catalogue.BigQueryProducts(client, settings.dataset, settings.shop)
    return catalogue.ProductCache(load, ttl=settings.cache_seconds)


def _public(url_root: str) -> str:
    """This function's URL as callers reach it: HTTPS behind Google's front end (which
    ends TLS before the request reaches us), as is except on the local machine."""
    from urllib.parse import urlsplit

    root = url_root.rstrip("/")
    if urlsplit(root).hostname in ("127.0.0.1", "localhost"):
        return root
    return "https://" + root.split("://", 1)[-1]


def _now() -> datetime:
    return datetime.now(UTC)


#: The largest body read (ManyChat's contact data with every custom field is far below it).
MAX_BODY_BYTES = 256 * 1024


def handle(request: Any) -> tuple[Any, int] | tuple[Any, int, dict[str, str]]:
    route = request.path.rstrip("/").rsplit("/", 1)[-1]
    if route not in ("contacts", "catalogue"):
        return {"status": "error", "reason": "POST /contacts or /catalogue"}, 404
    if request.method != "POST":
        return {"status": "error", "reason": "POST only"}, 405
    settings = _settings()
    if not contacts.authentic(request.headers, settings.secret_header, settings.secret):
        logs.warning("chatbot request rejected: wrong or missing secret", route=route)
        return {"status": "error", "reason": "unauthorized"}, 401
    length = request.content_length
    if length is None or length > MAX_BODY_BYTES:
        # ManyChat's "Full Contact Data" is a few KB; a body of unknown or absurd length is
        # refused unread, so one request cannot hold the instance's memory.
        logs.warning("chatbot request refused: body too large or of unknown length", route=route)
        reason = f"send a Content-Length of at most {MAX_BODY_BYTES} bytes"
        return {"status": "error", "reason": reason}, 413
    body = request.get_data(cache=False)
    if route == "contacts":
        return _contacts(settings, body)
    return _catalogue(settings, body, request.url_root)


def _contacts(settings: ChatbotSettings, body: bytes) -> tuple[Any, int]:
    try:
        answer = contacts.receive(
            body,
            shop=settings.shop,
            publish=_bus(),
            now=_now,
            default_country=settings.default_country,
            attribution_days=settings.attribution_days,
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


def _catalogue(settings: ChatbotSettings, body: bytes, url_root: str) -> tuple[Any, int]:
    started = time.monotonic()
    try:
        asked = catalogue.parse_request(body)
    except PoisonMessage as poison:
        return {"status": "error", "reason": poison.reason}, 400
    links = catalogue.Links(
        store_url=settings.store_url,
        currency=settings.currency,
        callback_url=(settings.public_url or _public(url_root)) + "/catalogue",
        secret_header=settings.secret_header,
        secret=settings.secret,
    )
    try:
        products = _products().get()
    except TransientError as exc:
        logs.error("catalogue unavailable", error=str(exc))
        return catalogue.unavailable(), 200
    answer = catalogue.reply(products, asked, links)
    logs.info(
        "catalogue served",
        page=asked.page,
        messages=len(answer["content"]["messages"]),
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return answer, 200
