"""The benchmark's baseline: a bare functions-framework HTTP function that does nothing.

``scripts/bench`` serves it exactly like ``shopify_webhook`` (same CLI, same gunicorn
settings, same load) so that every webhook figure has a same-run, same-machine yardstick.
"""

from typing import Any


def hello(request: Any) -> tuple[str, int]:
    """Answer 200 without reading the body: the floor any HTTP function stands on."""
    return "hello\n", 200
