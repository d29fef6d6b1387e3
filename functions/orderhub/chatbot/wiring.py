"""The real collaborators of ``chatbot``, built on first use and kept for the instance."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from orderhub import gcp
from orderhub.bus import PubSubBatchPublisher
from orderhub.chatbot import catalogue
from orderhub.chatbot.publish import BatchedBus
from orderhub.chatbot.settings import ChatbotSettings

#: ManyChat gives up after a few seconds; publish must be done (or given up) well before.
PUBLISH_DEADLINE_S = 4.0


@functools.cache
def settings() -> ChatbotSettings:
    return ChatbotSettings.from_env()


@functools.cache
def bus() -> BatchedBus:
    s = settings()
    publisher = PubSubBatchPublisher(gcp.batch_publisher(), gcp.topic_path(s.project, s.topic))
    return BatchedBus(publisher, deadline_s=PUBLISH_DEADLINE_S)


@functools.cache
def products() -> catalogue.ProductCache:
    s = settings()
    client = gcp.bigquery_client(s.project, s.bigquery_endpoint)
    load = catalogue.BigQueryProducts(client, s.dataset, s.shop)
    return catalogue.ProductCache(load, ttl=s.cache_seconds)


class ManagerIds:
    """The managers' subscriber ids, read again at most every ``ttl`` seconds."""

    def __init__(self, load: Callable[[], frozenset[str]], ttl: float = 60.0) -> None:
        self._load, self._ttl = load, ttl
        self._lock = threading.Lock()
        self._ids: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")

    def __contains__(self, contact_id: object) -> bool:
        with self._lock:
            if time.monotonic() - self._loaded_at > self._ttl:
                self._ids, self._loaded_at = self._load(), time.monotonic()
            return contact_id in self._ids


@functools.cache
def manager_ids() -> ManagerIds:
    from orderhub.managers import FirestoreManagers, current

    s = settings()
    client = gcp.firestore_client(s.project, s.managers_database)
    store = FirestoreManagers(client, s.firestore_prefix)
    return ManagerIds(
        lambda: frozenset(m.subscriber_id for m in current(store, s.managers_fallback))
    )


def is_manager(contact_id: str) -> bool:
    """Whether the subscriber is one of the managers: ``/contacts`` ignores their posts."""
    return contact_id in manager_ids()


def public_url(url_root: str) -> str:
    """This function's URL as callers reach it: HTTPS behind Google's front end (which
    ends TLS before the request reaches us), as is except on the local machine."""
    from urllib.parse import urlsplit

    root = url_root.rstrip("/")
    if urlsplit(root).hostname in ("127.0.0.1", "localhost"):
        return root
    return "https://" + root.split("://", 1)[-1]


def now() -> datetime:
    return datetime.now(UTC)
