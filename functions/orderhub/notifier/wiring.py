"""The real collaborators of ``notifier``, built on first use and kept for the instance:
the ledger, the managers and their preferences, ManyChat, BigQuery and the e-mail fallback."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from orderhub import gcp
from orderhub.ledger import FirestoreLedger
from orderhub.managers import FirestoreManagers, FirestorePreferences, apply_preferences, current
from orderhub.notifier.notify import Fallback, Policy
from orderhub.notifier.settings import NotifierSettings
from orderhub.notifier.templates import Links
from orderhub.sinks.bigquery import BigQueryInserter
from orderhub.sinks.manychat import ManyChatClient, TokenBucket

#: Claims outlive Pub/Sub's 7-day retention, then the TTL policy removes them.
CLAIM_TTL = timedelta(days=8)


@functools.cache
def settings() -> NotifierSettings:
    return NotifierSettings.from_env()


@functools.cache
def ledger() -> FirestoreLedger:
    s = settings()
    return FirestoreLedger(
        gcp.firestore_client(s.project),
        f"{s.firestore_prefix}notification_claims",
        CLAIM_TTL,
    )


@functools.cache
def managers() -> FirestoreManagers:
    s = settings()
    client = gcp.firestore_client(s.project, s.managers_database)
    return FirestoreManagers(client, s.firestore_prefix)


@functools.cache
def preferences() -> FirestorePreferences:
    """The owner's choices of who is told of what (the CRM app writes them, in its database)."""
    s = settings()
    return FirestorePreferences(gcp.firestore_client(s.project, s.app_database), s.firestore_prefix)


@functools.cache
def sender() -> ManyChatClient:
    s = settings()
    rate = s.rate_per_second
    return ManyChatClient(
        base_url=s.manychat_api_url,
        token=s.manychat_token,
        bucket=TokenBucket(rate, capacity=rate),
    )


@functools.cache
def inserter() -> BigQueryInserter:
    s = settings()
    client = gcp.bigquery_client(s.project, s.bigquery_endpoint)
    return BigQueryInserter(client, s.dataset)


@functools.cache
def fallback() -> Fallback | None:
    """E-mail through the shop's Gmail for managers whose Messenger window closed, if
    ``NOTIFY_FALLBACK_FROM`` names the sending mailbox."""
    s = settings()
    if not s.fallback_from:
        return None
    from orderhub.notifier.email_fallback import GmailFallback, gmail_service_factory

    factory = gmail_service_factory(
        client_id=s.gmail_client_id,
        client_secret=s.gmail_client_secret,
        refresh_token=s.gmail_refresh_token,
        api_url=s.gmail_api_url,
    )
    return GmailFallback(functools.cache(factory), s.fallback_from)


@functools.cache
def push() -> Any:
    """Web Push to the managers' subscribed phones (``VAPID_PRIVATE_KEY`` set), else None."""
    s = settings()
    if not s.vapid_private_key:
        return None
    from orderhub.notifier.web_push import WebPush
    from orderhub.push import COLLECTION, FirestoreSubscriptions

    subscriptions = FirestoreSubscriptions(  # the app stores them in its own database
        gcp.firestore_client(s.project, s.app_database), f"{s.firestore_prefix}{COLLECTION}"
    )
    return WebPush(subscriptions, private_key=s.vapid_private_key, subject=s.vapid_subject)


def now() -> datetime:
    return datetime.now(UTC)


def policy() -> Policy:
    s = settings()
    return Policy(
        message_tag=s.message_tag,
        lease=timedelta(seconds=s.lease_seconds),
        max_attempts=s.max_attempts,
        links=Links(order_url=s.order_url),
        max_age=timedelta(hours=s.max_age_hours),
    )


def whom_to_tell() -> Any:
    """The managers to tell, with the owner's preferences of who is told of what."""
    s = settings()
    return apply_preferences(current(managers(), s.managers_fallback), preferences().load())
