"""One shop's reconciliation: every resource in turn, then the id check for deletes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from orderhub import logs
from orderhub.shopify_reconcile.deletes import checked_resources, find_deleted
from orderhub.shopify_reconcile.reconcile import RESOURCES, reconcile


@dataclass
class Progress:
    """What a run has found so far, shop by shop (kept when a later shop fails)."""

    reconciled: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)


def reconcile_shop(
    *,
    shop: str,
    into: Progress,
    graphql: Any,
    cursors: Any,
    versions: Any,
    existing: Any,
    bus: Any,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
    own_app_ids: frozenset[str] = frozenset(),
) -> None:
    """Reconcile ``shop``, resource by resource, then its id check; each finding is added
    to ``into`` as soon as it is made."""
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
            own_app_ids=own_app_ids,
        )
        into.reconciled.append({"shop": shop, **asdict(summary)})
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
        into.deletes.append({"shop": shop, **asdict(found)})
        logs.info("id check", shop=shop, **asdict(found))
