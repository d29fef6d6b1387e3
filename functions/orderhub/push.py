"""Web Push subscriptions of the managers' phones (issue 22 item 8), shared by the CRM app
(which stores what ``pushManager.subscribe`` gave the page) and the notifier (which
pushes to them when a manager's Messenger window has closed).

``push_subscriptions/{sha256(endpoint)}`` in the default Firestore database: the
``endpoint`` and ``keys`` (``p256dh``, ``auth``) of the browser's ``PushSubscription``,
the ManyChat ``subscriber_id`` of the manager it alerts (the notifier's managers are
ManyChat subscribers), the app's ``manager`` who subscribed, and ``created_at``. One
document per endpoint: subscribing again from the same browser replaces it.

VAPID (RFC 8292): the application server's key pair. ``VAPID_PRIVATE_KEY`` (a secret:
the notifier signs with it) is the base64url DER (PKCS#8) or raw 32-byte key;
``VAPID_PUBLIC_KEY`` (the app hands it to ``pushManager.subscribe``) is the public point,
uncompressed, base64url. ``new_vapid_keys`` makes a pair (the local stack's dev keys).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from orderhub.errors import TransientError

COLLECTION = "push_subscriptions"
MAX_ENDPOINT = 1000
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BadSubscription(ValueError):
    """What the page sent is not a ``PushSubscription`` we can push to."""


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Subscription:
    endpoint: str
    p256dh: str
    auth: str

    def info(self) -> dict[str, Any]:
        """The ``subscription_info`` pywebpush takes."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def read_subscription(data: Any) -> Subscription:
    """A browser's ``PushSubscription.toJSON()``, checked: an https endpoint (plain http
    only on loopback, the local stand-in), a P-256 ``p256dh`` and a 16-byte ``auth``."""
    if not isinstance(data, Mapping):
        raise BadSubscription("the subscription must be a JSON object")
    endpoint = str(data.get("endpoint") or "")
    given = data.get("keys")
    keys: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    url = urlparse(endpoint)
    if len(endpoint) > MAX_ENDPOINT or not url.hostname:
        raise BadSubscription("endpoint missing or too long")
    if url.scheme != "https" and not (url.scheme == "http" and url.hostname in LOOPBACK):
        raise BadSubscription("endpoint must be https")
    p256dh, auth = str(keys.get("p256dh") or ""), str(keys.get("auth") or "")
    try:
        point, secret = _b64url_decode(p256dh), _b64url_decode(auth)
    except (ValueError, TypeError) as exc:
        raise BadSubscription("keys are not base64url") from exc
    if len(point) != 65 or point[0] != 4:
        raise BadSubscription("keys.p256dh must be an uncompressed P-256 point")
    if len(secret) != 16:
        raise BadSubscription("keys.auth must be 16 bytes")
    return Subscription(endpoint, p256dh, auth)


def doc_id(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def new_vapid_keys() -> tuple[str, str]:
    """A fresh VAPID pair: (private key as base64url DER, public point as base64url)."""
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
    encode = base64.urlsafe_b64encode
    return encode(der).decode().rstrip("="), encode(point).decode().rstrip("=")


class FirestoreSubscriptions:
    def __init__(self, client: Any, collection: str) -> None:
        self._collection = client.collection(collection)

    def save(self, sub: Subscription, *, subscriber_id: str, manager: str, now: datetime) -> None:
        from google.api_core import exceptions

        record = {
            "endpoint": sub.endpoint,
            "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
            "subscriber_id": subscriber_id,
            "manager": manager,
            "created_at": now,
        }
        try:
            self._collection.document(doc_id(sub.endpoint)).set(record, timeout=5.0)
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"push subscription not saved: {exc.__class__.__name__}") from exc

    def for_subscriber(self, subscriber_id: str) -> list[Subscription]:
        from google.api_core import exceptions

        try:
            docs = self._collection.where("subscriber_id", "==", subscriber_id).stream(timeout=5.0)
            found = [d.to_dict() or {} for d in docs]
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"push subscriptions unread: {exc.__class__.__name__}") from exc
        return [
            Subscription(str(d["endpoint"]), str(d["keys"]["p256dh"]), str(d["keys"]["auth"]))
            for d in found
            if d.get("endpoint") and isinstance(d.get("keys"), dict)
        ]

    def for_manager(self, manager: str) -> list[dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        where = FieldFilter("manager", "==", manager)
        docs = self._collection.where(filter=where).stream(timeout=5.0)
        return [d.to_dict() or {} for d in docs]

    def delete(self, endpoint: str) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(doc_id(endpoint)).delete(timeout=5.0)
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            why = exc.__class__.__name__
            raise TransientError(f"push subscription not deleted: {why}") from exc
