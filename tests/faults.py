"""Tools for the fault tests: an outage switch in front of an emulator, and a pipeline.

``Outage`` is a small TCP proxy. While it is up it pipes bytes both ways to the real
emulator; ``cut()`` drops every open connection and resets new ones, which is what a
client sees of a service that went away; ``restore()`` lets traffic through again. The
emulator behind it keeps running, so nothing it stored is lost (the BigQuery emulator
is in-memory: restarting it would lose the data the test wants to find afterwards).

``Pipeline`` is the order path with its own parts: the real ``shopify_webhook`` (a
functions-framework test client) publishing to a fresh topic, whose two push
subscriptions on the Pub/Sub emulator deliver to the real ``crm_writer`` and the real
``notifier``, served by functions-framework over HTTP in this process. crm_writer writes
to the test's own BigQuery dataset; the notifier messages two fresh managers through the
stack's ManyChat stand-in and records every attempt in that dataset's ``notifications``.
Every push delivery and its answer is recorded, so a test can see retries happen (or not).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from devstack import shopify_sender

ROOT_SOURCE = "functions/main.py"


class Outage:
    """A TCP proxy to ``target`` (host:port) that a test can cut and restore."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host or "127.0.0.1", int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._up = True
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.refused = 0  # connections reset while cut
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut(self) -> None:
        with self._lock:
            self._up = False
            for sock in self._open:
                _reset(sock)
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._up:
                    self.refused += 1
                    _reset(client)
                    continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a host with nothing listening any more would answer."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class Delivery:
    message_id: str
    data: bytes
    status: int


class PushRecorder:
    """WSGI middleware that records each Pub/Sub push delivery and its status code."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            message = json.loads(body).get("message", {})
        except ValueError:
            message = {}
        seen: list[int] = []

        def recording_start(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen.append(int(status.split()[0]))
            return start_response(status, headers, exc_info)

        result = self.app(environ, recording_start)
        with self._lock:
            self.deliveries.append(
                Delivery(
                    message_id=str(message.get("messageId") or message.get("message_id") or ""),
                    data=base64.b64decode(message.get("data") or ""),
                    status=seen[0] if seen else 0,
                )
            )
        return result

    def of(self, message_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.message_id == message_id]

    def failed(self) -> int:
        with self._lock:
            return sum(1 for d in self.deliveries if d.status >= 400)


class Pipeline:
    """webhook → fresh topic → push → crm_writer and notifier (HTTP, in process)."""

    def __init__(self, stack: dict[str, str], crm: Any, prefix: str) -> None:
        import os

        import functions_framework
        from google.cloud import pubsub_v1

        from tests.manychat import StandIn, new_subscriber_id

        self.stack, self.crm = stack, crm
        self.project = stack["GOOGLE_CLOUD_PROJECT"]
        self.topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.managers = [new_subscriber_id(), new_subscriber_id()]
        self.manychat = StandIn(stack["MANYCHAT_API_URL"])
        os.environ.update(
            {
                "ORDER_EVENTS_TOPIC": self.topic,
                "FIRESTORE_PREFIX": f"{self.topic}-",  # so no settings/managers: the list below
                "SHOPIFY_WEBHOOK_SECRETS": stack["SHOPIFY_WEBHOOK_SECRETS"],
                "BIGQUERY_DATASET": crm.dataset,
                "MANYCHAT_API_URL": stack["MANYCHAT_API_URL"],
                "MANYCHAT_TOKEN": stack["MANYCHAT_TOKEN"],
                "NOTIFY_MANAGERS": json.dumps(
                    [
                        {"subscriber_id": m, "name": f"Fault {i}"}
                        for i, m in enumerate(self.managers)
                    ]
                ),
            }
        )

        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.topic_path = self.publisher.topic_path(self.project, self.topic)
        self.publisher.create_topic(name=self.topic_path)
        self._servers: list[Any] = []
        self._subscriptions: list[str] = []
        self.recorder = self._push("crm_writer", "-push")
        self.notifier = self._push("notifier", "-notify")
        self.webhook = functions_framework.create_app(
            target="shopify_webhook", source=ROOT_SOURCE, signature_type="http"
        ).test_client()

    def _push(self, target: str, suffix: str) -> PushRecorder:
        """Serve ``target`` over HTTP here, with a push subscription of its own to the topic."""
        import functions_framework
        from werkzeug.serving import make_server

        recorder = PushRecorder(
            functions_framework.create_app(
                target=target, source=ROOT_SOURCE, signature_type="cloudevent"
            )
        )
        server = make_server("127.0.0.1", 0, recorder, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        path = self.subscriber.subscription_path(self.project, self.topic + suffix)
        self.subscriber.create_subscription(
            request={
                "name": path,
                "topic": self.topic_path,
                "push_config": {"push_endpoint": f"http://127.0.0.1:{server.port}/"},
                "ack_deadline_seconds": 10,
                "retry_policy": {
                    "minimum_backoff": {"seconds": 1},
                    "maximum_backoff": {"seconds": 3},
                },
            }
        )
        self._subscriptions.append(path)
        return recorder

    def close(self) -> None:
        with contextlib.suppress(Exception):
            for path in self._subscriptions:
                self.subscriber.delete_subscription(subscription=path)
            self.publisher.delete_topic(topic=self.topic_path)
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def notifications(self, entity_id: str) -> list[dict[str, Any]]:
        """The ``notifications`` rows about one order (or quarantined payload)."""
        return list(
            self.crm.query(
                "SELECT manager_id, status, event_type FROM {ds}.notifications "
                "WHERE entity_id = @id ORDER BY manager_id, attempted_at",
                id=entity_id,
            )
        )

    def wait_notified(self, entity_id: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Rows about ``entity_id`` once every manager has a ``sent`` one."""
        return list(
            self.crm.wait_for(
                "SELECT manager_id, status, event_type FROM {ds}.notifications "
                "WHERE entity_id = @id ORDER BY manager_id, attempted_at",
                until=lambda rows: (
                    {r["manager_id"] for r in rows if r["status"] == "sent"} >= set(self.managers)
                ),
                timeout=timeout,
                id=entity_id,
            )
        )

    def messages(self, manager: str) -> list[str]:
        """The texts ManyChat took for one manager so far."""
        return [
            c["body"]["data"]["content"]["messages"][0]["text"]
            for c in self.manychat.delivered(manager)
        ]

    def post(self, topic: str, payload: dict[str, Any], webhook_id: str) -> tuple[int, str]:
        """Deliver a webhook as Shopify does; returns (status, body)."""
        body = json.dumps(payload).encode()
        headers = shopify_sender.headers(
            shop=self.stack["SHOPIFY_SHOP_DOMAIN"],
            secret=self.stack["SHOPIFY_API_SECRET"],
            topic=topic,
            body=body,
            webhook_id=webhook_id,
        )
        response = self.webhook.post("/", data=body, headers=headers)
        return response.status_code, response.get_data(as_text=True).strip()

    def publish_raw(self, data: bytes) -> str:
        return str(self.publisher.publish(self.topic_path, data).result(timeout=10))


@contextlib.contextmanager
def pipeline(stack: dict[str, str], crm: Any, prefix: str) -> Iterator[Pipeline]:
    p = Pipeline(stack, crm, prefix)
    try:
        yield p
    finally:
        p.close()


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def new_order(order_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """The fixture order under a fresh id (unique per test, so tests never collide)."""
    order = shopify_sender.fixture("order")
    oid = order_id or str(8_000_000_000_000_000 + uuid.uuid4().int % 10**15)
    return {**order, "id": int(oid), "name": f"#F{oid[-6:]}", **changes}
