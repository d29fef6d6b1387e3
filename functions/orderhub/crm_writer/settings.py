"""What ``crm_writer`` needs, read once from the environment."""

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
class CrmSettings:
    """What ``crm_writer`` needs."""

    project: str
    dataset: str
    bigquery_endpoint: str | None
    #: Prefix of the Firestore collections (tests); the change marker is ``crm_changes``.
    firestore_prefix: str = ""
    #: The Firestore database of the CRM app's state (``APP_DATABASE``, docs/app-state.md).
    app_database: str = DEFAULT_DATABASE

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CrmSettings:
        return cls(
            project=project_id(env),
            dataset=required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            app_database=app_database(env),
        )
