"""HTTP entry of ``order_form``: every request goes to the CRM app (``app.create_app``)."""

from __future__ import annotations

import functools
import io
from typing import Any

from flask import Flask, Response

from orderhub.order_form.app import create_app
from orderhub.order_form.wiring import wiring

#: The largest body: /services' 2 MB mail, posted back in base64 by each builder tap.
MAX_BODY = 3 << 20


@functools.cache
def _app() -> Flask:
    return create_app()


def handle(request: Any) -> Response:
    # Refused unread, before sign-in: a body of unknown length (chunked), or too large.
    if request.content_length is None and "Transfer-Encoding" in request.headers:
        return Response("send a Content-Length\n", status=411, mimetype="text/plain")
    if (request.content_length or 0) > MAX_BODY:
        return Response("too large\n", status=413, mimetype="text/plain")
    # The app reads the body from its own environ; functions-framework drains the outer
    # request afterwards, so the body is read once here and handed over as a copy.
    body = request.get_data(cache=True)
    environ = dict(request.environ, CONTENT_LENGTH=str(len(body)))
    environ["wsgi.input"] = io.BytesIO(body)
    path, base = request.path or "/", wiring().settings.base_path
    if base and (path == base or path.startswith(base + "/")):
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = base, path[len(base) :] or "/"
    app = _app()
    with app.request_context(environ):
        response: Response = app.full_dispatch_request()
    return response
