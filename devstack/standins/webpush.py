"""A Web Push stand-in: a push service (RFC 8030) and the browser it delivers to.

As a **push service** it takes ``POST /push/<id>`` the way real ones (FCM, Mozilla's
autopush, Apple's) document, and refuses what they refuse:

* a ``TTL`` header, a whole number of seconds (RFC 8030 §5.2: 400 without it);
* ``Authorization: vapid t=<JWT>, k=<key>`` (RFC 8292 §3): ``k`` the application server's
  P-256 public key (uncompressed point, base64url); the JWT's header ``{"typ": "JWT",
  "alg": "ES256"}``, its signature valid for ``k``, ``aud`` the push service's origin,
  ``exp`` in the future and at most 24 hours away, ``sub`` a ``mailto:`` or ``https:``
  URI (401/403 otherwise: 403 when the key is not the one the subscription was made
  with, as §4 allows);
* ``Content-Encoding: aes128gcm`` and a body in that encoding (RFC 8188): a header of
  salt (16 bytes), record size (4), key id length (1) and a key id of 65 bytes, the
  sender's ephemeral P-256 key (RFC 8291 §4); at most 4,096 bytes (413 beyond);
* an unknown or unsubscribed endpoint gets 404 / 410 Gone, so senders forget it.

As the **browser** it holds each subscription's private key and auth secret (RFC 8291):
``POST /_standin/subscribe`` ``{"application_server_key": ...}`` makes a subscription
(what ``pushManager.subscribe`` returns: ``{endpoint, keys: {p256dh, auth}}``), and each
message accepted is decrypted with them (``http_ece``, the library pywebpush itself
encrypts with), so a test reads what a service worker would get.

For tests: ``GET /_standin/received[?endpoint=]`` (decrypted payloads, headers, claims),
``POST /_standin/unsubscribe`` ``{"endpoint"}`` (then 410), ``POST /_standin/reset``.

Run: ``python -m devstack.standins.webpush --port P``. Loopback only.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

MAX_BODY = 4096  # RFC 8291 §4: push services must accept at least 4,096 bytes
MAX_EXP_S = 24 * 3600  # RFC 8292 §2: exp no further than 24 hours from the request
_VAPID = re.compile(r"vapid\s+(?P<params>.+)", re.IGNORECASE | re.DOTALL)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def new_vapid_keys() -> tuple[str, str]:
    """A VAPID pair for a local stack: (private key as base64url DER, public point)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(der), b64url(point)


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _public_key(raw: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    if len(raw) != 65 or raw[0] != 4:
        raise ValueError("not an uncompressed P-256 point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def verify_vapid(header: str | None, audience: str, *, now: float) -> tuple[str, dict[str, Any]]:
    """The application server's key (base64url) and the JWT's claims, or ``Refused``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    found = _VAPID.fullmatch(header or "")
    if not found:
        raise Refused(401, "Authorization must be 'vapid t=<JWT>, k=<key>' (RFC 8292)")
    params: dict[str, str] = {}
    for part in found["params"].split(","):
        key, _, value = part.strip().partition("=")
        params[key.strip().lower()] = value.strip()
    token, key = params.get("t", ""), params.get("k", "")
    try:
        public = _public_key(b64url_decode(key))
        head_b64, claims_b64, signature_b64 = token.split(".")
        head = json.loads(b64url_decode(head_b64))
        claims = json.loads(b64url_decode(claims_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, TypeError) as exc:
        raise Refused(401, f"malformed VAPID token or key: {exc}") from exc
    if head.get("alg") != "ES256" or head.get("typ", "JWT") != "JWT":
        raise Refused(401, "the VAPID JWT must be ES256")
    if len(signature) != 64:
        raise Refused(401, "an ES256 signature is 64 bytes (r || s)")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise Refused(401, "the VAPID signature does not verify with k") from exc
    if claims.get("aud") != audience:
        raise Refused(401, f"aud must be this push service's origin {audience}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + MAX_EXP_S:
        raise Refused(401, "exp must be in the future and within 24 hours")
    sub = str(claims.get("sub") or "")
    if not (sub.startswith("mailto:") or sub.startswith("https:")):
        raise Refused(401, "sub must be a mailto: or https: URI")
    return key, claims


def check_aes128gcm(body: bytes) -> None:
    """RFC 8188 header as RFC 8291 uses it: salt, rs >= 18, a 65-byte key id."""
    if len(body) > MAX_BODY:
        raise Refused(413, f"payload over {MAX_BODY} bytes")
    if len(body) < 21 + 65 + 17:
        raise Refused(400, "aes128gcm body too short")
    record_size = int.from_bytes(body[16:20], "big")
    if record_size < 18:
        raise Refused(400, "aes128gcm record size under 18")
    if body[20] != 65 or body[21] != 4:
        raise Refused(400, "aes128gcm key id must be the sender's 65-byte P-256 key")


class PushStandIn:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self.subscriptions: dict[str, dict[str, Any]] = {}  # id → keys, server key, state
        self.received: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --------------------------------------------------------------- the browser's side
    def subscribe(self, application_server_key: str) -> dict[str, Any]:
        """What ``pushManager.subscribe({applicationServerKey})`` gives the page."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        _public_key(b64url_decode(application_server_key))  # a bad key is refused here too
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        auth = secrets.token_bytes(16)
        sid = secrets.token_urlsafe(16)
        with self._lock:
            self.subscriptions[sid] = {
                "private": private,
                "auth": auth,
                "server_key": application_server_key,
                "active": True,
            }
        return {
            "endpoint": f"{self.url}/push/{sid}",
            "expirationTime": None,
            "keys": {"p256dh": b64url(public), "auth": b64url(auth)},
        }

    def unsubscribe(self, endpoint: str) -> None:
        with self._lock:
            sub = self.subscriptions.get(endpoint.rsplit("/", 1)[-1])
            if sub:
                sub["active"] = False

    # --------------------------------------------------------------- the push service
    def accept(self, sid: str, headers: Any, body: bytes) -> dict[str, Any]:
        import http_ece

        with self._lock:
            sub = self.subscriptions.get(sid)
        if sub is None:
            raise Refused(404, "no such subscription")
        if not sub["active"]:
            raise Refused(410, "the subscription has expired or was unsubscribed")
        ttl = headers.get("TTL")
        if ttl is None or not str(ttl).strip().isdigit():
            raise Refused(400, "TTL header required (RFC 8030 §5.2)")
        key, claims = verify_vapid(headers.get("Authorization"), self._origin(), now=time.time())
        if key != sub["server_key"]:
            raise Refused(403, "VAPID key is not the one this subscription was made with")
        if body:
            if (headers.get("Content-Encoding") or "").lower() != "aes128gcm":
                raise Refused(400, "Content-Encoding must be aes128gcm (RFC 8291)")
            check_aes128gcm(body)
            try:
                plain = http_ece.decrypt(
                    body,
                    private_key=sub["private"],
                    auth_secret=sub["auth"],
                    version="aes128gcm",
                )
            except Exception as exc:
                raise Refused(400, f"payload does not decrypt: {exc.__class__.__name__}") from exc
        else:
            plain = b""
        record = {
            "endpoint": f"{self.url}/push/{sid}",
            "ttl": int(ttl),
            "urgency": headers.get("Urgency"),
            "topic": headers.get("Topic"),
            "claims": claims,
            "payload": plain.decode("utf-8", "replace"),
        }
        with self._lock:
            self.received.append(record)
        return record

    def _origin(self) -> str:
        return self.url

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # no payloads in logs
                return

            def _send(self, status: int, body: Any, extra: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                if parsed.path == "/":
                    self._send(200, {"standin": "webpush"})
                elif parsed.path == "/_standin/received":
                    wanted = parse_qs(parsed.query).get("endpoint", [None])[0]
                    with standin._lock:
                        got = [r for r in standin.received if wanted in (None, r["endpoint"])]
                    self._send(200, got)
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY + 1024:
                    self._send(413, {"error": "too large"})
                    return
                body = self.rfile.read(length)
                push = re.fullmatch(r"/push/([A-Za-z0-9_-]+)", self.path)
                try:
                    if push:
                        standin.accept(push.group(1), self.headers, body)
                        where = f"{standin.url}/message/{secrets.token_hex(8)}"
                        self._send(201, {}, {"Location": where})
                    elif self.path == "/_standin/subscribe":
                        key = str(json.loads(body or b"{}").get("application_server_key") or "")
                        self._send(201, standin.subscribe(key))
                    elif self.path == "/_standin/unsubscribe":
                        standin.unsubscribe(str(json.loads(body)["endpoint"]))
                        self._send(200, {"ok": True})
                    elif self.path == "/_standin/reset":
                        with standin._lock:
                            standin.received.clear()
                            standin.subscriptions.clear()
                        self._send(200, {"ok": True})
                    else:
                        self._send(404, {"error": "not found"})
                except Refused as exc:
                    self._send(exc.status, {"error": exc.reason})
                except (ValueError, KeyError) as exc:
                    self._send(400, {"error": f"bad request: {exc.__class__.__name__}"})

        return Handler

    def start(self) -> PushStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    PushStandIn(port=args.port).serve_forever()


if __name__ == "__main__":
    main()
