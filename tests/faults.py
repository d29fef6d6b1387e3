"""Tools for the fault tests: an outage switch in front of an emulator, and a pipeline.

``Outage`` is a small TCP proxy. While it is up it pipes bytes both ways to the real
emulator; ``cut()`` drops every open connection and resets new ones, which is what a
client sees of a service that went away; ``restore()`` lets traffic through again. The
emulator behind it keeps running, so nothing it stored is lost (the BigQuery emulator
is in-memory: restarting it would lose the data the test wants to find afterwards).

``Pipeline`` is the order path with its own parts: the real ``shopify_webhook`` (a
functions-framework test client) publishing to a fresh topic, whose push subscription
on the Pub/Sub emulator delivers to the real ``crm_writer`` served by functions-framework
over HTTP in this process, writing to the test's own BigQuery dataset. Every push
delivery and its answer is recorded, so a test can see retries happen (or not).
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
    """webhook → fresh topic → push → crm_writer (HTTP, in process) → the test's dataset."""

    def __init__(self, stack: dict[str, str], crm: Any, prefix: str) -> None:
        import os

        import functions_framework
        from google.cloud import pubsub_v1
        from werkzeug.serving import make_server

        self.stack, self.crm = stack, crm
        self.project = stack["GOOGLE_CLOUD_PROJECT"]
        self.topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
        os.environ["ORDER_EVENTS_TOPIC"] = self.topic
        os.environ["FIRESTORE_PREFIX"] = f"{self.topic}-"
        os.environ["SHOPIFY_WEBHOOK_SECRETS"] = stack["SHOPIFY_WEBHOOK_SECRETS"]
        os.environ["BIGQUERY_DATASET"] = crm.dataset

        self.recorder = PushRecorder(
            functions_framework.create_app(
                target="crm_writer", source=ROOT_SOURCE, signature_type="cloudevent"
            )
        )
        self._server = make_server("127.0.0.1", 0, self.recorder, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.webhook = functions_framework.create_app(
            target="shopify_webhook", source=ROOT_SOURCE, signature_type="http"
        ).test_client()

        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.topic_path = self.publisher.topic_path(self.project, self.topic)
        self.sub_path = self.subscriber.subscription_path(self.project, self.topic + "-push")
        self.publisher.create_topic(name=self.topic_path)
        self.subscriber.create_subscription(
            request={
                "name": self.sub_path,
                "topic": self.topic_path,
                "push_config": {"push_endpoint": f"http://127.0.0.1:{self._server.port}/"},
                "ack_deadline_seconds": 10,
                "retry_policy": {
                    "minimum_backoff": {"seconds": 1},
                    "maximum_backoff": {"seconds": 3},
                },
            }
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.subscriber.delete_subscription(subscription=self.sub_path)
            self.publisher.delete_topic(topic=self.topic_path)
        self._server.shutdown()
        self._server.server_close()

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
