"""The real collaborators of ``gmail_ingest`` and ``gmail_watch_renew``, built on first use
and kept for the instance, and ``run_sync``: one sync of a mailbox with them."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from orderhub import gcp, logs
from orderhub.bus import PubSubBus
from orderhub.errors import TransientError
from orderhub.gmail_ingest import sync as gmail
from orderhub.gmail_ingest.gmail_api import GmailApi
from orderhub.gmail_ingest.settings import GmailSettings
from orderhub.gmail_ingest.stores import (
    FirestoreAttempts,
    FirestoreCheckpoints,
    FirestoreLayoutMarkers,
)
from orderhub.sources import stored_rules

#: Per message read: attempts and "published". Gmail may re-list a message for as long as
#: it keeps history (about a week): keep them well beyond that; a TTL policy on
#: ``expires_at`` removes them.
ATTEMPT_TTL_DAYS = 30
GMAIL_SCOPES = ("https://www.googleapis.com/auth/gmail.readonly",)
TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a public endpoint


@functools.cache
def settings() -> GmailSettings:
    return GmailSettings.from_env()


@functools.cache
def credentials() -> Any:
    """OAuth user credentials from the stored refresh token; anonymous for the stand-in.

    Cached so that the access token is refreshed once an hour, not once a call.
    """
    s = settings()
    if s.refresh_token is None:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    from google.oauth2.credentials import Credentials

    return Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=s.refresh_token,
        client_id=s.client_id,
        client_secret=s.client_secret,
        token_uri=TOKEN_URI,
        scopes=list(GMAIL_SCOPES),
    )


def gmail_service() -> Any:
    """A fresh Gmail API resource (static discovery: no network call to build it)."""
    from googleapiclient.discovery import build

    s = settings()
    options = {"api_endpoint": s.api_url.rstrip("/") + "/"} if s.api_url else None
    return build(
        "gmail",
        "v1",
        credentials=credentials(),
        static_discovery=True,
        cache_discovery=False,
        client_options=options,
    )


@functools.cache
def stores() -> tuple[FirestoreCheckpoints, FirestoreAttempts, PubSubBus]:
    s = settings()
    client = gcp.firestore_client(s.project)
    status = gcp.firestore_client(s.project, s.app_database).collection(
        f"{s.firestore_prefix}gmail_status"  # the CRM app's health page reads it there
    )
    checkpoints = FirestoreCheckpoints(client, f"{s.firestore_prefix}gmail_mailboxes", status)
    attempts = FirestoreAttempts(
        client, f"{s.firestore_prefix}gmail_attempts", timedelta(days=ATTEMPT_TTL_DAYS)
    )
    bus = PubSubBus(gcp.publisher(), gcp.topic_path(s.project, s.topic))
    return checkpoints, attempts, bus


@functools.cache
def rules() -> stored_rules.CachedRules:
    """The shipped rules files with the owner's stored ones over them, at most
    ``EMAIL_RULES_TTL_SECONDS`` (<= 60) old: a saved change needs no deploy."""
    s = settings()
    store = stored_rules.FirestoreRulesStore(  # the app saves them in its own database
        gcp.firestore_client(s.project, s.app_database), s.firestore_prefix
    )
    return stored_rules.CachedRules(store.load, ttl=s.rules_ttl_seconds)


@functools.cache
def layouts() -> FirestoreLayoutMarkers:
    s = settings()
    client = gcp.firestore_client(s.project)
    return FirestoreLayoutMarkers(client, f"{s.firestore_prefix}email_layouts")


def limits(s: GmailSettings) -> gmail.SyncLimits:
    return gmail.SyncLimits(
        page_size=s.page_size,
        full_sync_days=s.full_sync_days,
        full_sync_margin=timedelta(hours=s.full_sync_margin_hours),
        max_messages=s.max_messages_per_run,
        max_seconds=float(s.max_seconds_per_run),
        lease=timedelta(seconds=3 * s.max_seconds_per_run),
        max_message_bytes=s.max_message_bytes,
        max_attempts=s.max_attempts,
    )


def continue_later(mailbox: str) -> None:
    """Ask for another run: a notification without ``historyId`` on the push topic."""
    s = settings()
    data = json.dumps({"emailAddress": mailbox}).encode()
    try:
        gcp.publisher().publish(s.push_topic, data).result(timeout=10.0)
    except Exception as exc:  # the future re-raises whatever the RPC raised
        raise TransientError(f"publish to {s.push_topic} failed: {exc}") from exc


def now() -> datetime:
    return datetime.now(UTC)


def run_sync(
    mailbox: str, history_id: int | None, published_at: datetime | None = None
) -> gmail.SyncResult:
    """One sync of the mailbox with the real collaborators (used by both entry points)."""
    checkpoints, attempts, bus = stores()
    result = gmail.sync(
        mailbox=mailbox,
        notified_history_id=history_id,
        gmail=GmailApi(gmail_service),
        checkpoints=checkpoints,
        attempts=attempts,
        bus=bus,
        rules=rules()(),
        now=now,
        limits=limits(settings()),
        notified_at=published_at,
        layouts=layouts(),
    )
    logs.info(
        "gmail sync done",
        mode=result.mode,
        checkpoint=result.checkpoint,
        seen=result.seen,
        published=len(result.published),
        quarantined=len(result.quarantined),
        ignored=result.ignored,
        more=result.more,
        lag_s=logs.seconds_since(published_at, now()),
    )
    if result.more:
        continue_later(mailbox.lower())
    return result


def renew_watch(mailbox: str) -> datetime:
    """Renew the mailbox's ``users.watch`` and record when it expires; the expiry."""
    checkpoints, _attempts, _bus = stores()
    return gmail.renew_watch(
        mailbox=mailbox,
        topic=settings().push_topic,
        gmail=GmailApi(gmail_service),
        checkpoints=checkpoints,
        now=now(),
    )
