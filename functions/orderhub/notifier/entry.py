"""CloudEvent adapter: one canonical event from ``order-events`` → managers in Messenger."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from orderhub import gcp, logs
from orderhub.errors import PoisonMessage
from orderhub.event import decode
from orderhub.ledger import FirestoreLedger
from orderhub.managers import FirestoreManagers, FirestorePreferences, apply_preferences, current
from orderhub.notifier.notify import Fallback, Policy, notifies, notify
from orderhub.notifier.settings import NotifierSettings
from orderhub.notifier.templates import Links
from orderhub.pubsub import (
    message_data,
    message_id,
    pubsub_message,
    quarantine_event,
)
from orderhub.sinks.bigquery import BigQueryInserter
from orderhub.sinks.manychat import ManyChatClient, TokenBucket

#: Claims outlive Pub/Sub's 7-day retention, then the TTL policy removes them.
CLAIM_TTL = timedelta(days=8)


@functools.cache
def _settings() -> NotifierSettings:
    return NotifierSettings.from_env()


@functools.cache
def _ledger() -> FirestoreLedger:
    settings = _settings()
    return FirestoreLedger(
        gcp.firestore_client(settings.project),
        f"{settings.firestore_prefix}notification_claims",
        CLAIM_TTL,
    )


@functools.cache
def _managers() -> FirestoreManagers:
    settings = _settings()
    client = gcp.firestore_client(settings.project, settings.managers_database)
    return FirestoreManagers(client, settings.firestore_prefix)


@functools.cache
def _preferences() -> FirestorePreferences:
    """The owner's choices of who is told of what (the CRM app writes them)."""
    settings = _settings()
    return FirestorePreferences(gcp.firestore_client(settings.project), settings.firestore_prefix)


@functools.cache
def _sender() -> ManyChatClient:
    settings = _settings()
    rate = settings.rate_per_second
    return ManyChatClient(
        base_url=settings.manychat_api_url,
        token=settings.manychat_token,
        bucket=TokenBucket(rate, capacity=rate),
    )


@functools.cache
def _inserter() -> BigQueryInserter:
    settings = _settings()
    client = gcp.bigquery_client(settings.project, settings.bigquery_endpoint)
    return BigQueryInserter(client, settings.dataset)


@functools.cache
def _fallback() -> Fallback | None:
    """E-mail through the shop's Gmail for managers whose Messenger window closed, if
    ``NOTIFY_FALLBACK_FROM`` names the sending mailbox."""
    settings = _settings()
    if not settings.fallback_from:
        return None
    from orderhub.notifier.email_fallback import GmailFallback, gmail_service_factory

    factory = gmail_service_factory(
        client_id=settings.gmail_client_id,
        client_secret=settings.gmail_client_secret,
        refresh_token=settings.gmail_refresh_token,
        api_url=settings.gmail_api_url,
    )
    return GmailFallback(functools.cache(factory), settings.fallback_from)


def _now() -> datetime:
    return datetime.now(UTC)


def handle(cloud_event: object) -> None:
    settings = _settings()
    try:
        data, pubsub_id = message_data(cloud_event)
        event = decode(data)
    except PoisonMessage as poison:
        # Not an event: crm_writer keeps it in quarantine; we tell the managers, with the
        # same quarantine event (same id), so each is told once.
        message = pubsub_message(cloud_event)
        pubsub_id = message_id(message)
        event = quarantine_event(message, poison.reason, received_at=_now())
        logs.warning("notifier: a message is not an event", reason=poison.reason)
    if not notifies(event):
        return  # e.g. order.updated or a backfill: nothing to tell, not even a settings read
    summary = notify(
        event,
        managers=apply_preferences(
            current(_managers(), settings.managers_fallback), _preferences().load()
        ),
        ledger=_ledger(),
        sender=_sender(),
        inserter=_inserter(),
        policy=Policy(
            message_tag=settings.message_tag,
            lease=timedelta(seconds=settings.lease_seconds),
            max_attempts=settings.max_attempts,
            links=Links(order_url=settings.order_url),
            max_age=timedelta(hours=settings.max_age_hours),
        ),
        now=_now,
        fallback=_fallback(),
    )
    if summary is None:
        return
    logs.info(
        "event notified",
        event_id=event["event_id"],
        event_type=event["event_type"],
        message_id=pubsub_id,
        sent=len(summary.sent),
        failed=len(summary.failed),
        duplicate=len(summary.duplicate),
        emailed=len(summary.emailed),
    )
