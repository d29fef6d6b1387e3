"""The real collaborators of ``crm_writer``, built on first use and kept for the instance."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from orderhub import gcp
from orderhub.changes import FirestoreChanges
from orderhub.crm_writer.settings import CrmSettings
from orderhub.sinks.bigquery import BigQueryInserter


@functools.cache
def settings() -> CrmSettings:
    return CrmSettings.from_env()


@functools.cache
def inserter() -> BigQueryInserter:
    s = settings()
    return BigQueryInserter(gcp.bigquery_client(s.project, s.bigquery_endpoint), s.dataset)


def now() -> datetime:
    return datetime.now(UTC)


@functools.cache
def changes() -> FirestoreChanges:
    """The orders list's change marker (``orderhub.changes``), in the app's database."""
    s = settings()
    return FirestoreChanges(gcp.firestore_client(s.project, s.app_database), s.firestore_prefix)
