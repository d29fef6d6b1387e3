"""The notifier's Web Push channel (RFC 8030/8291/8292) for a manager whose Messenger
window has closed: the same alert, to every phone the manager subscribed in the CRM app.

``pywebpush`` encrypts the payload (``aes128gcm``, RFC 8291) for each subscription and signs
a VAPID JWT (RFC 8292) with ``VAPID_PRIVATE_KEY``; the push service (FCM for Chrome,
Mozilla's for Firefox, Apple's for Safari on iOS 16.4+ home-screen apps) delivers it to the
app's service worker, which shows it. The payload is the alert's title, text and the link
to open; nothing is kept on the phone but the notification itself.

Answers by kind: 201/202 delivered; 404/410 the subscription is gone (deleted, not
retried: RFC 8030 §7.3); 429 and 5xx retryable (``TransientError`` when no subscription of
the manager took it); other 4xx refused for good (logged, the next channel is tried).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from orderhub import logs
from orderhub.errors import TransientError
from orderhub.managers import Manager
from orderhub.push import Subscription

#: Push services must take 4,096 bytes of ciphertext (RFC 8291 §4); the text is cut well
#: under it (aes128gcm adds 86 bytes of header, 17 of padding and tag).
MAX_TEXT = 2000
#: How long a push service keeps an alert for a phone that is offline (seconds).
DEFAULT_TTL = 6 * 3600


class Subscriptions(Protocol):
    def for_subscriber(self, subscriber_id: str) -> list[Subscription]: ...

    def delete(self, endpoint: str) -> None: ...


def payload(title: str, text: str, url: str | None) -> str:
    body = text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
    return json.dumps({"title": title[:120], "body": body, "url": url or ""}, ensure_ascii=False)


class WebPush:
    """``send`` → how many of the manager's phones the push services accepted it for."""

    def __init__(
        self,
        subscriptions: Subscriptions,
        *,
        private_key: str,
        subject: str,
        ttl: int = DEFAULT_TTL,
        timeout_s: float = 10.0,
        session: Any = None,
    ) -> None:
        self._subscriptions = subscriptions
        self._private_key = private_key
        self._subject = subject
        self._ttl = ttl
        self._timeout = timeout_s
        self._session = session

    def send(self, manager: Manager, *, title: str, text: str, url: str | None) -> int:
        from pywebpush import WebPushException, webpush

        subs: Sequence[Subscription] = self._subscriptions.for_subscriber(manager.subscriber_id)
        delivered, retry = 0, ""
        data = payload(title, text, url)
        for sub in subs:
            try:
                webpush(
                    sub.info(),
                    data=data,
                    vapid_private_key=self._private_key,
                    vapid_claims={"sub": self._subject},  # a fresh dict: webpush fills it
                    content_encoding="aes128gcm",
                    ttl=self._ttl,
                    timeout=self._timeout,
                    headers={"Urgency": "high"},
                    requests_session=self._session,
                )
                delivered += 1
            except WebPushException as exc:
                status = exc.response.status_code if exc.response is not None else None
                if status in (404, 410):
                    self._subscriptions.delete(sub.endpoint)
                    logs.info("push subscription gone", manager_id=manager.subscriber_id)
                elif status is None or status == 429 or status >= 500:
                    retry = f"push service answered {status}"
                else:
                    logs.error("push refused", manager_id=manager.subscriber_id, http_status=status)
            except OSError as exc:  # requests' connection errors and timeouts
                retry = f"push service unreachable: {exc.__class__.__name__}"
        if not delivered and retry:
            raise TransientError(retry)
        return delivered
