"""The benchmark's baseline: a bare functions-framework HTTP function that does nothing.

``scripts/bench`` serves it exactly like ``shopify_webhook`` (same CLI, same gunicorn
settings, same load) so that every webhook figure has a same-run, same-machine yardstick.
"""

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any


def hello(request: Any) -> tuple[str, int]:
    """Answer 200 without reading the body: the floor any HTTP function stands on."""
    return "hello\n", 200


def webhook_without_io(request: Any) -> tuple[str, int]:
    """``shopify_webhook``'s own work without its two RPCs: HMAC, normalise, encode the
    message, log, answer; the claim-and-publish is replaced by encoding only. The
    benchmark serves it beside the real webhook to show what the Google client calls cost.
    Needs ``functions/`` on ``PYTHONPATH`` and the webhook's settings in the environment.
    """
    from datetime import UTC, datetime

    from orderhub import logs
    from orderhub.bus import message
    from orderhub.shopify_webhook.receive import header, receive

    def encode_only(event: Any, *, key: str, record: Any, at: Any) -> bool:
        return bool(message(event))

    outcome = receive(
        headers=request.headers,
        body=request.get_data(cache=False),
        shop_secrets=_shop_secrets(),
        once=encode_only,
        now=lambda: datetime.now(UTC),
    )
    logs.info(
        f"webhook {outcome.status}",
        topic=header(request.headers, "Topic"),
        webhook_id=header(request.headers, "Webhook-Id"),
        event_id=outcome.event_id,
    )
    return f"{outcome.status}\n", 200


@functools.cache
def _shop_secrets() -> Any:  # read once per instance, as the real webhook does
    from orderhub.shopify_webhook.settings import WebhookSettings

    return WebhookSettings.from_env().shop_secrets


def shopify_webhook_counted(request: Any) -> Any:
    """``shopify_webhook`` itself (``functions/main.py``'s entry point), plus one answer the
    real one refuses anyway: ``GET ?batch_sizes`` gives the instance's group-commit batches
    so far (``BatchedPublishOnce.batch_sizes``) as ``{"items in batch": batches}``."""
    if request.method == "GET" and "batch_sizes" in request.args:
        from orderhub.shopify_webhook import wiring

        if not wiring.once.cache_info().currsize:  # no request has built it yet
            return json.dumps({}), 200
        sizes = wiring.once().batch_sizes  # the instance's one (functools.cache)
        return json.dumps({str(size): batches for size, batches in sizes.items()}), 200
    return _functions_main().shopify_webhook(request)


@functools.cache
def _functions_main() -> Any:  # functions/main.py, under a name of its own (this is "main")
    path = Path(__file__).resolve().parents[2] / "functions" / "main.py"
    spec = importlib.util.spec_from_file_location("orderhub_functions_main", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
