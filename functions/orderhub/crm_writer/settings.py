"""What ``crm_writer`` needs, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from orderhub.config import (
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CrmSettings:
        return cls(
            project=project_id(env),
            dataset=required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
        )
