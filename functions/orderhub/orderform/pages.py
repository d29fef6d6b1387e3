"""Rendering the order form's pages from the Jinja2 templates in ``templates/``.

Autoescaping is on for every template, so whatever a manager or the catalogue typed is
shown as text, never as markup. Static files (one script, one stylesheet) are served by the
function itself: one deployable, and a Content-Security-Policy of ``'self'`` only.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from orderhub.sources import manual

HERE = Path(__file__).resolve().parent
STATIC = {"form.js": "text/javascript", "form.css": "text/css"}


@functools.cache
def environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    context.setdefault("channels", manual.CHANNELS)
    context.setdefault("labels", FIELD_LABELS)
    return str(environment().get_template(template).render(**context))


@functools.cache
def static_file(name: str) -> tuple[bytes, str] | None:
    """(content, media type) of a static file, or ``None`` if there is no such file."""
    if name not in STATIC:
        return None
    return (HERE / "static" / name).read_bytes(), STATIC[name]


#: How the error summary names a field (line fields by their last part).
FIELD_LABELS = {
    "customer_name": "name",
    "phone": "phone",
    "email": "e-mail",
    "address": "address",
    "delivery_method": "delivery method",
    "note": "note",
    "channel": "where the customer came from",
    "lines": "items",
    "title": "item",
    "quantity": "quantity",
    "price": "price",
}
DELIVERY_LABELS = {"courier": "Courier", "post": "Post", "pickup": "Pickup", "taxi": "Taxi"}


def delivery_label(method: str) -> str:
    return DELIVERY_LABELS.get(method, method.replace("-", " ").replace("_", " ").capitalize())
