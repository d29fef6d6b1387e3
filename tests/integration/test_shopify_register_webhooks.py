"""scripts/shopify_register_webhooks against a local stand-in of the Admin GraphQL API.

The stand-in answers as Shopify documents ``webhookSubscriptions`` and
``webhookSubscriptionCreate`` (GraphQL over POST /admin/api/<version>/graphql.json with
X-Shopify-Access-Token; 401 for a bad token; userErrors for a refused subscription), so the
script's real HTTP code runs.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "shpat_test_token"
BAD_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
WEBHOOK_URL = "https://europe-west1-demo.cloudfunctions.net/shopify-webhook"


def _load_script() -> ModuleType:
    path = ROOT / "scripts" / "shopify_register_webhooks"
    loader = importlib.machinery.SourceFileLoader("shopify_register_webhooks", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class AdminStandIn(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.subscriptions: list[dict[str, str]] = []
        self.refuse: dict[str, str] = {}  # topic -> userErrors message
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: AdminStandIn

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length))
        if self.path != "/admin/api/2026-10/graphql.json":
            self._send(404, {"errors": "Not Found"})
            return
        if self.headers.get("X-Shopify-Access-Token") != TOKEN:
            self._send(401, {"errors": BAD_TOKEN})
            return
        query, variables = request["query"], request.get("variables") or {}
        with self.server.lock:
            if "webhookSubscriptionCreate" in query:
                self._send(200, {"data": {"webhookSubscriptionCreate": self._create(variables)}})
            elif "webhookSubscriptions" in query:
                nodes = [dict(s) for s in self.server.subscriptions]
                page = {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}
                self._send(200, {"data": {"webhookSubscriptions": page}})
            else:
                self._send(200, {"errors": [{"message": "unknown operation"}]})

    def _create(self, variables: dict[str, Any]) -> dict[str, Any]:
        topic, sub = variables["topic"], variables["sub"]
        if topic in ("CUSTOMERS_DATA_REQUEST", "CUSTOMERS_REDACT", "SHOP_REDACT"):
            return {
                "webhookSubscription": None,
                "userErrors": [
                    {"field": ["topic"], "message": "Compliance topics are set in the app config"}
                ],
            }
        if topic in self.server.refuse:
            return {
                "webhookSubscription": None,
                "userErrors": [
                    {"field": ["webhookSubscription"], "message": self.server.refuse[topic]}
                ],
            }
        if any(s["topic"] == topic and s["uri"] == sub["uri"] for s in self.server.subscriptions):
            return {
                "webhookSubscription": None,
                "userErrors": [
                    {
                        "field": ["webhookSubscription", "uri"],
                        "message": "Address for this topic has already been taken",
                    }
                ],
            }
        node = {
            "id": f"gid://shopify/WebhookSubscription/{len(self.server.subscriptions) + 1}",
            "topic": topic,
            "uri": sub["uri"],
            "format": sub.get("format", "JSON"),
        }
        self.server.subscriptions.append(node)
        return {
            "webhookSubscription": {k: node[k] for k in ("id", "topic", "uri")},
            "userErrors": [],
        }


@pytest.fixture
def admin() -> Iterator[AdminStandIn]:
    server = AdminStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run(admin: AdminStandIn, monkeypatch: pytest.MonkeyPatch, token: str = TOKEN) -> int:
    monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", token)
    script = _load_script()
    return int(
        script.main(
            ["--shop", "demo.myshopify.com", "--url", WEBHOOK_URL, "--admin-url", admin.url]
        )
    )


def test_every_handled_topic_is_subscribed_once_as_json(
    admin: AdminStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run(admin, monkeypatch) == 0

    # The README's list; the privacy topics are configured in the app, never subscribed here.
    readme_topics = [
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "orders/delete",
        "orders/paid",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "refunds/create",
        "customers/create",
        "customers/update",
        "customers/delete",
        "products/create",
        "products/update",
        "products/delete",
    ]
    expected = {t.replace("/", "_").upper() for t in readme_topics}
    assert {s["topic"] for s in admin.subscriptions} == expected
    assert len(admin.subscriptions) == len(expected)
    assert {s["uri"] for s in admin.subscriptions} == {WEBHOOK_URL}
    assert {s["format"] for s in admin.subscriptions} == {"JSON"}


def test_running_it_again_creates_nothing(
    admin: AdminStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(admin, monkeypatch) == 0
    first = list(admin.subscriptions)

    assert _run(admin, monkeypatch) == 0

    assert admin.subscriptions == first
    assert "0 new" in capsys.readouterr().out


def test_a_wrong_token_fails_loudly_and_creates_nothing(
    admin: AdminStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(admin, monkeypatch, token="shpat_wrong") == 1

    assert admin.subscriptions == []
    assert "HTTP 401" in capsys.readouterr().err


def test_a_refused_topic_is_reported_with_shopifys_reason(
    admin: AdminStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin.refuse["ORDERS_CREATE"] = "Access denied for topic orders/create"

    assert _run(admin, monkeypatch) == 1

    err = capsys.readouterr().err
    assert "ORDERS_CREATE" in err
    assert "Access denied" in err
