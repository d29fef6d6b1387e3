"""The notifier's second channel: e-mail through the shop's Gmail (``users.messages.send``).

Used for a manager whose Messenger 24-hour window has closed (ManyChat code 3011), so a
new order is still announced without a message tag Meta's policy does not allow for
alerts. The message is plain text from the shop's own mailbox (``NOTIFY_FALLBACK_FROM``)
to the manager's ``email`` in ``settings/managers``.

The Gmail credentials are the shop's OAuth client (``GMAIL_CLIENT_ID``,
``GMAIL_CLIENT_SECRET``) with a grant of its own, ``gmail.send`` only
(``GMAIL_SEND_REFRESH_TOKEN``, from ``scripts/gmail_authorize --send``): the notifier cannot
read the mailbox, and ``gmail_ingest``/``gmail_watch_renew`` (``GMAIL_REFRESH_TOKEN``,
``gmail.readonly``) cannot send.

Faults by kind: Gmail's 429 and 5xx (and no answer) are ``TransientError`` (Pub/Sub
redelivers, the claim is retried); any other refusal is ``FallbackFailed``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from orderhub.errors import TransientError
from orderhub.managers import Manager
from orderhub.notifier.notify import FallbackFailed

SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"


def mime(sender: str, manager: Manager, *, subject: str, text: str) -> bytes:
    """The RFC 5322 message: plain UTF-8 text, the manager as the only recipient."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((manager.name, manager.email or ""))
    message["Subject"] = " ".join(subject.split())[:150]
    message.set_content(text)
    return message.as_bytes()


TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a public endpoint


def gmail_service_factory(
    *,
    client_id: str | None,
    client_secret: str | None,
    refresh_token: str | None,
    api_url: str | None,
) -> Callable[[], Any]:
    """Builds the Gmail API resource on first use (static discovery, no network), with the
    shop's OAuth user credentials, or anonymous ones for the local stand-in."""

    def build_service() -> Any:
        from googleapiclient.discovery import build

        credentials: Any
        if refresh_token is None:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        else:
            from google.oauth2.credentials import Credentials

            credentials = Credentials(  # type: ignore[no-untyped-call]
                token=None,
                refresh_token=refresh_token,
                client_id=client_id,
                client_secret=client_secret,
                token_uri=TOKEN_URI,
                scopes=[SEND_SCOPE],
            )
        options = {"api_endpoint": api_url.rstrip("/") + "/"} if api_url else None
        return build(
            "gmail",
            "v1",
            credentials=credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options=options,
        )

    return build_service


class GmailFallback:
    """``notifier.Fallback`` over the Gmail API (google-api-python-client resource)."""

    def __init__(self, service_factory: Callable[[], Any], sender: str) -> None:
        self._service_factory = service_factory
        self._sender = sender

    def send(self, manager: Manager, *, subject: str, text: str) -> None:
        from googleapiclient.errors import HttpError

        raw = base64.urlsafe_b64encode(mime(self._sender, manager, subject=subject, text=text))
        request = (
            self._service_factory()
            .users()
            .messages()
            .send(userId="me", body={"raw": raw.decode("ascii")})
        )
        try:
            request.execute(num_retries=0)
        except HttpError as exc:
            status = int(exc.resp.status)
            if status == 429 or status >= 500:
                raise TransientError(f"Gmail send answered HTTP {status}") from exc
            raise FallbackFailed(f"Gmail send answered HTTP {status}") from exc
        except OSError as exc:  # timeouts, refused connections
            raise TransientError(f"Gmail unreachable: {exc.__class__.__name__}") from exc
