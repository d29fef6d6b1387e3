"""One shop's reconciliation: every resource in turn, then the id check for deletes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from orderhub import logs
from orderhub.shopify_reconcile.deletes import checked_resources, find_deleted
from orderhub.shopify_reconcile.reconcile import RESOURCES, reconcile


def reconcile_shop(
    *,
    shop: str,
    graphql: Any,
    cursors: Any,
    versions: Any,
    existing: Any,
    bus: Any,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What reconciling ``shop`` found, resource by resource, and what its id check found."""
    summaries: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    for resource in RESOURCES:
        summary = reconcile(
            shop=shop,
            resource=resource,
            graphql=graphql,
            cursors=cursors,
            known_versions=versions,
            bus=bus,
            now=now,
            sleep=sleep,
        )
        summaries.append({"shop": shop, **asdict(summary)})
        logs.info("reconciled", shop=shop, **asdict(summary))
    for resource in checked_resources():
        found = find_deleted(
            shop=shop,
            resource=resource,
            graphql=graphql,
            existing_ids=existing,
            bus=bus,
            now=now,
            sleep=sleep,
        )
        deletes.append({"shop": shop, **asdict(found)})
        logs.info("id check", shop=shop, **asdict(found))
    return summaries, deletes
