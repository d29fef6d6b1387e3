"""The Gmail side of ``gmail_ingest``: the API calls a sync makes (``Gmail``), the real
client over google-api-python-client (``GmailApi``), and the two answers a sync treats as
more than a fault (``HistoryGone``, ``MessageGone``).

Kept apart from the sync (``sync``) and its Firestore state (``stores``) so that the
protocol and its HTTP error mapping read in one place: every other HTTP, auth or network
fault becomes ``TransientError``, so Pub/Sub redelivers. The tests' fake (onto the
devstack stand-in) speaks the same ``Gmail`` protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from orderhub.errors import TransientError

HISTORY_TYPES = ("messageAdded", "labelAdded")
METADATA_HEADERS = ("From", "Subject")


class HistoryGone(Exception):
    """``history.list`` answered 404: the start id is too old; a full sync is needed."""


class MessageGone(Exception):
    """The message was deleted between the history listing and the fetch."""


class Gmail(Protocol):
    """The Gmail API calls OrderHub makes (``GmailApi`` is the real one)."""

    def profile(self, user: str) -> dict[str, Any]: ...

    def history(
        self, user: str, *, start: int, page_token: str | None, page_size: int
    ) -> dict[str, Any]: ...

    def list_messages(
        self, user: str, *, query: str, page_token: str | None, page_size: int
    ) -> dict[str, Any]: ...

    def get_metadata(self, user: str, message_id: str) -> dict[str, Any]: ...

    def get_raw(self, user: str, message_id: str) -> dict[str, Any]: ...

    def watch(self, user: str, *, topic: str) -> dict[str, Any]: ...


class GmailApi:
    """``Gmail`` over google-api-python-client; HTTP faults become our errors.

    ``service_factory`` builds a fresh ``googleapiclient`` resource: its httplib2
    transport is not thread-safe, so one is made per sync rather than shared.
    """

    def __init__(self, service_factory: Callable[[], Any]) -> None:
        self._factory = service_factory
        self._service: Any = None
        self._messages_resource: Any = None

    def _users(self) -> Any:
        # Each ``users()`` builds its resource's methods from the discovery document
        # (~10 ms); build it once per client.
        if self._service is None:
            self._service = self._factory().users()
        return self._service

    def _messages(self) -> Any:
        if self._messages_resource is None:
            self._messages_resource = self._users().messages()
        return self._messages_resource

    @staticmethod
    def _run(request: Any, what: str) -> dict[str, Any]:
        import httplib2
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError

        try:
            return dict(request.execute(num_retries=2))
        except RefreshError as exc:
            # An expired or revoked refresh token (7 days while the OAuth app is in
            # "Testing"): retries keep the mail waiting until someone re-authorises.
            raise TransientError(
                "Gmail credentials refused by Google; re-run scripts/gmail_authorize "
                "and update GMAIL_REFRESH_TOKEN"
            ) from exc
        except HttpError as exc:
            status = int(exc.resp.status)
            if status == 404 and what == "history":
                raise HistoryGone(str(exc)) from exc
            if status == 404 and what == "message":
                raise MessageGone(str(exc)) from exc
            hint = " (re-run scripts/gmail_authorize?)" if status in (401, 403) else ""
            raise TransientError(f"Gmail {what} failed with HTTP {status}{hint}") from exc
        except (OSError, httplib2.HttpLib2Error, TransportError) as exc:
            # TransportError: the token endpoint unreachable while refreshing
            raise TransientError(f"Gmail unreachable during {what}: {exc}") from exc

    def profile(self, user: str) -> dict[str, Any]:
        return self._run(self._users().getProfile(userId=user), "profile")

    def history(
        self, user: str, *, start: int, page_token: str | None, page_size: int
    ) -> dict[str, Any]:
        request = (
            self._users()
            .history()
            .list(
                userId=user,
                startHistoryId=str(start),
                historyTypes=list(HISTORY_TYPES),
                maxResults=page_size,
                pageToken=page_token,
            )
        )
        return self._run(request, "history")

    def list_messages(
        self, user: str, *, query: str, page_token: str | None, page_size: int
    ) -> dict[str, Any]:
        request = self._messages().list(
            userId=user, q=query, maxResults=page_size, pageToken=page_token
        )
        return self._run(request, "messages.list")

    def get_metadata(self, user: str, message_id: str) -> dict[str, Any]:
        request = self._messages().get(
            userId=user,
            id=message_id,
            format="metadata",
            metadataHeaders=list(METADATA_HEADERS),
        )
        return self._run(request, "message")

    def get_raw(self, user: str, message_id: str) -> dict[str, Any]:
        request = self._messages().get(userId=user, id=message_id, format="raw")
        return self._run(request, "message")

    def watch(self, user: str, *, topic: str) -> dict[str, Any]:
        # No label filter: mail a Gmail filter files away from INBOX notifies too.
        body = {"topicName": topic}
        return self._run(self._users().watch(userId=user, body=body), "watch")
