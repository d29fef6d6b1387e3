"""ManyChat's Sending API: one ``sendContent`` call per manager, failures sorted by kind.

``POST {base}/fb/sending/sendContent`` with ``Authorization: Bearer <token>`` and
``{subscriber_id, data: {version: "v2", content: {messages}}, message_tag}``. ManyChat
answers 200 ``{"status": "success"}``, or HTTP 400 ``{"status": "error", "message",
"code"}`` for a message it will not deliver (3011: the subscriber's last interaction is
over 24 hours old and no message tag was given; 3021/3031/304X: other channel rules),
or a validation error ``{"status": "error", "message", "details": {"messages": [...]}}``.

How we treat the answers:

* 200 success → ``Outcome(sent=True)``;
* 400 (or 200 with ``status: error``) → ``Outcome(sent=False, code=...)``: permanent,
  retrying the same request cannot help; the caller records it as failed;
* 429, 5xx, timeouts, refused connections → ``TransientError``: Pub/Sub redelivers
  with backoff, and the claim lets the redelivery send only what is missing;
* 401/403 → ``TransientError`` as well: a wrong token is an operator's fix, after which
  the redelivered (or dead-lettered and replayed) event should still reach everyone.

The documented limit is 25 requests/s for ``sendContent``; ``TokenBucket`` keeps each
instance under it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orderhub.errors import TransientError

SEND_PATH = "/fb/sending/sendContent"
DEFAULT_API_URL = "https://api.manychat.com"
#: ManyChat's documented limit for sendContent, per account.
REQUESTS_PER_SECOND = 25.0
#: (connect, read) seconds: a function instance must not hang on a slow API.
TIMEOUT = (3.05, 10.0)


@dataclass(frozen=True)
class Outcome:
    """What ManyChat said about one send that it answered for good."""

    sent: bool
    http_status: int
    code: int | None = None
    reason: str | None = None


class SendFailed(TransientError):
    """ManyChat could not take the message now (429, 5xx, timeout, auth); retry later."""

    def __init__(self, reason: str, *, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``capacity``.

    Thread-safe, because functions-framework serves concurrent requests on threads.
    ``clock`` and ``sleep`` are parameters so that tests need no real waiting.
    """

    def __init__(
        self,
        rate: float = REQUESTS_PER_SECOND,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else rate
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting as long as needed; returns the seconds waited.

        The token is reserved at once (the balance may go negative), and the caller
        sleeps off the debt outside the lock, so waiters queue fairly.
        """
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


def _subscriber(value: str) -> int | str:
    """ManyChat documents ``subscriber_id`` as an integer."""
    return int(value) if value.isdigit() else value


def _code(body: Any) -> int | None:
    code = body.get("code") if isinstance(body, dict) else None
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def _message(body: Any) -> str:
    if not isinstance(body, dict):
        return "no JSON body"
    text = str(body.get("message") or "")
    details = body.get("details") or {}
    extra = [
        str(m.get("message"))
        for m in (details.get("messages") or [] if isinstance(details, dict) else [])
        if isinstance(m, dict)
    ]
    return "; ".join(p for p in (text, *extra) if p)[:300]


class ManyChatClient:
    """The ``sendContent`` call over ``requests``, rate-limited per instance."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        session: Any = None,
        bucket: TokenBucket | None = None,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        import requests

        self._url = base_url.rstrip("/") + SEND_PATH
        self._token = token
        self._session = session or requests.Session()
        self._bucket = bucket or TokenBucket()
        self._timeout = timeout

    def send_content(
        self, subscriber_id: str, messages: list[dict[str, Any]], message_tag: str | None
    ) -> Outcome:
        import requests

        body: dict[str, Any] = {
            "subscriber_id": _subscriber(subscriber_id),
            "data": {"version": "v2", "content": {"messages": messages}},
        }
        if message_tag:
            body["message_tag"] = message_tag
        self._bucket.acquire()
        try:
            response = self._session.post(
                self._url,
                json=body,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=self._timeout,
            )
        except requests.Timeout as exc:
            raise SendFailed(f"ManyChat timed out: {exc.__class__.__name__}") from exc
        except requests.RequestException as exc:
            raise SendFailed(f"ManyChat unreachable: {exc.__class__.__name__}") from exc
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if status == 429 or status >= 500:
            raise SendFailed(f"ManyChat answered HTTP {status}", http_status=status)
        if status in (401, 403):
            raise SendFailed(f"ManyChat refused the API token (HTTP {status})", http_status=status)
        if status == 200 and isinstance(answer, dict) and answer.get("status") == "success":
            return Outcome(sent=True, http_status=status)
        return Outcome(
            sent=False,
            http_status=status,
            code=_code(answer),
            reason=_message(answer) or f"HTTP {status}",
        )
