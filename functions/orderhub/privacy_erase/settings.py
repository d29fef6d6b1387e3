"""What ``privacy_erase`` (and ``scripts/privacy_export``) need, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from orderhub.config import (
    DEFAULT_DATABASE,
    app_database,
    bigquery_endpoint,
    project_id,
    required,
)


@dataclass(frozen=True)
class PrivacySettings:
    """What ``privacy_erase`` (and ``scripts/privacy_export``) need."""

    project: str
    dataset: str
    bigquery_endpoint: str | None
    firestore_prefix: str
    #: ``PRIVACY_DIGEST_KEY`` (a secret): keys the digests of identifiers the audit keeps.
    digest_key: str = ""
    #: The Firestore database of the CRM app's state (``APP_DATABASE``, docs/app-state.md).
    app_database: str = DEFAULT_DATABASE

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> PrivacySettings:
        return cls(
            project=project_id(env),
            dataset=required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            digest_key=env.get("PRIVACY_DIGEST_KEY", "").strip(),
            app_database=app_database(env),
        )
