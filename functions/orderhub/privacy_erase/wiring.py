"""The real collaborators of ``privacy_erase``, built on first use and kept for the instance."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from orderhub import gcp
from orderhub.config import DEFAULT_DATABASE
from orderhub.errors import ConfigError
from orderhub.privacy_erase.documents import ChainedDocuments, FirestoreDocuments
from orderhub.privacy_erase.settings import PrivacySettings
from orderhub.privacy_erase.warehouse import BigQueryWarehouse


@functools.cache
def settings() -> PrivacySettings:
    return PrivacySettings.from_env()


@functools.cache
def warehouse() -> BigQueryWarehouse:
    s = settings()
    return BigQueryWarehouse(gcp.bigquery_client(s.project, s.bigquery_endpoint), s.dataset)


@functools.cache
def documents() -> FirestoreDocuments | ChainedDocuments:
    """The default database's documents and the CRM app's (``APP_DATABASE``: draft links,
    claims and marks can hold a phone), both nulled and both searched."""
    s = settings()
    default = FirestoreDocuments(gcp.firestore_client(s.project), prefix=s.firestore_prefix)
    if s.app_database == DEFAULT_DATABASE:
        return default
    app = gcp.firestore_client(s.project, s.app_database)
    return ChainedDocuments(default, FirestoreDocuments(app, prefix=s.firestore_prefix))


def digest_key() -> str:
    """``PRIVACY_DIGEST_KEY``: the erasure job does not run without it (the export does)."""
    key = settings().digest_key
    if len(key) < 16:
        raise ConfigError("PRIVACY_DIGEST_KEY (a secret of 16+ characters) is not set")
    return key


def now() -> datetime:
    return datetime.now(UTC)
