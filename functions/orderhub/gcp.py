"""Google Cloud clients, created on first use and cached for the life of the instance.

Imports of the client libraries happen inside the factories so that a function pays
only for the clients it uses. The official clients find the emulators themselves
through ``PUBSUB_EMULATOR_HOST`` and ``FIRESTORE_EMULATOR_HOST``; BigQuery has no such
variable, so ``bigquery_client`` takes the endpoint explicitly (``BIGQUERY_EMULATOR_HOST``
read by the settings).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google import pubsub_v1 as pubsub_v1_gapic
    from google.cloud import bigquery, firestore, pubsub_v1  # type: ignore[attr-defined]

#: The webhook waits for each publish, so batching only adds latency: send at once,
#: but let concurrent requests that arrive within 1 ms share one publish call.
PUBLISH_MAX_LATENCY_S = 0.001


@functools.cache
def publisher() -> pubsub_v1.PublisherClient:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    return pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(
            max_messages=100, max_latency=PUBLISH_MAX_LATENCY_S
        )
    )


@functools.cache
def batch_publisher() -> pubsub_v1_gapic.PublisherClient:
    """The generated Pub/Sub client, for callers that batch messages themselves. It finds
    the emulator through ``PUBSUB_EMULATOR_HOST`` like the library's own client."""
    from google import pubsub_v1 as pubsub_v1_gapic

    return pubsub_v1_gapic.PublisherClient()


@functools.cache
def firestore_client(project: str, database: str | None = None) -> firestore.Client:
    """The project's (default) database, or the named one (e.g. the managers')."""
    from google.cloud import firestore

    if database and database != "(default)":
        return firestore.Client(project=project, database=database)
    return firestore.Client(project=project)


@functools.cache
def bigquery_client(project: str, endpoint: str | None = None) -> bigquery.Client:
    from google.cloud import bigquery

    if not endpoint:
        return bigquery.Client(project=project)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def topic_path(project: str, topic: str) -> str:
    return f"projects/{project}/topics/{topic}"
