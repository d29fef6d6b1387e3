"""``crm_writer``'s core: append the event's rows, then move the CRM's change marker.

The marker (``orderhub.changes``) moves only after the rows are written, so a list that
sees it move finds them; it moves for writes the orders list shows. A marker that cannot be
bumped raises ``TransientError``: Pub/Sub redelivers, the rows collapse by their insertId
and the views by ``event_id``, and the bump is tried again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from orderhub.changes import LISTED_TABLES
from orderhub.event import Event
from orderhub.sinks.bigquery import Inserter, write_event


class Changes(Protocol):
    def bump(self, shop: str, *, at: datetime) -> None: ...


def write(
    event: Event, *, inserter: Inserter, changes: Changes, now: Callable[[], datetime]
) -> list[str]:
    tables = write_event(event, inserter=inserter, now=now)
    if LISTED_TABLES.intersection(tables):
        changes.bump(event["shop"], at=now())
    return tables
