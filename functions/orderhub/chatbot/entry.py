"""HTTP adapter for ManyChat's External Request and Dynamic Block calls (``chatbot``).

Routes: ``POST /contacts`` and ``POST /catalogue`` (``routes``). Every request must carry
the shared secret in ``CHATBOT_SECRET_HEADER`` (a "More" callback: its page's token).
"""

from __future__ import annotations

from typing import Any

from orderhub import logs
from orderhub.chatbot import contacts, routes, wiring
from orderhub.chatbot.catalogue import CALLBACK_HEADER as CALLBACK

#: The largest body read (ManyChat's contact data with every custom field is far below it).
MAX_BODY_BYTES = 256 * 1024


def handle(request: Any) -> tuple[Any, int] | tuple[Any, int, dict[str, str]]:
    route = request.path.rstrip("/").rsplit("/", 1)[-1]
    if route not in ("contacts", "catalogue"):
        return {"status": "error", "reason": "POST /contacts or /catalogue"}, 404
    if request.method != "POST":
        return {"status": "error", "reason": "POST only"}, 405
    settings = wiring.settings()
    signed = contacts.authentic(request.headers, settings.secret_header, settings.secret)
    token = request.headers.get(CALLBACK) if route == "catalogue" and not signed else None
    if not signed and not token:
        logs.warning("chatbot request rejected: wrong or missing secret", route=route)
        return {"status": "error", "reason": "unauthorized"}, 401
    length = request.content_length
    if length is None or length > MAX_BODY_BYTES:
        # ManyChat's contact data is a few KB: a body of unknown or absurd length, unread.
        logs.warning("chatbot request refused: body too large or of unknown length", route=route)
        reason = f"send a Content-Length of at most {MAX_BODY_BYTES} bytes"
        return {"status": "error", "reason": reason}, 413
    body = request.get_data(cache=False)
    if route == "contacts":
        return routes.contact(settings, body)
    return routes.catalogue_page(settings, body, request.url_root, token)
