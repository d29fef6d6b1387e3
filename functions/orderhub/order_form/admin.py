"""The owner's settings: the sync's switches and filters, and who is told of what.

Every change is recorded in ``settings_audit`` (the app's own Firestore database): who,
when, which setting, the old and the new value.

* The sync's switches are the outbound sync's own document, written through its module
  (``outbound.switches``), so the sync reads exactly what the owner chose.
* Who is told of what: ``notify_preferences/{ManyChat subscriber id}`` in the app's
  database (``orders``, ``alerts``, ``contacts``: on/off). The list of managers and their
  password hashes stay in the managers database, which this internet-facing app may only
  read; the notifier reads these preferences from the app's database and applies them
  on top of the list (``orderhub.managers.apply_preferences``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from orderhub.errors import TransientError
from orderhub.managers import NOTIFY_KINDS as NOTIFY_KINDS
from orderhub.sources.manual import PAYMENT_TYPES
from orderhub.switches import Switches

#: Settings the form offers, as ``Switches.changed`` paths.
SWITCH_FIELDS = (
    "outbound.orders",
    "outbound.customers",
    "outbound.consent",
    "outbound.products",
    "consent_required",
    "send_receipt",
)


class SwitchStore(Protocol):
    def get(self, shop: str) -> Switches: ...

    def put(self, shop: str, switches: Switches) -> None: ...


class Audit(Protocol):
    def record(self, entry: dict[str, Any]) -> None: ...

    def recent(self, limit: int) -> list[dict[str, Any]]: ...


class Preferences(Protocol):
    def load(self) -> dict[str, dict[str, Any]]: ...

    def put(self, subscriber_id: str, prefs: dict[str, bool]) -> None: ...


@dataclass(frozen=True)
class Change:
    setting: str
    old: Any
    new: Any


def _flat(switches: Switches) -> dict[str, Any]:
    doc = switches.to_document()
    found: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                found[f"{key}.{sub}"] = inner
        else:
            found[key] = value
    return found


#: Outbound switches whose first turn on offers the complete first sync (``scripts/resync --all``).
FIRST_SYNC = {
    "outbound.orders": "orders",
    "outbound.customers": "customers",
    "outbound.products": "products",
}


def first_sync_commands(changes: list[Change], shop: str) -> list[str]:
    """The command that sends everything of each direction just switched on."""
    return [
        f"scripts/resync --all {FIRST_SYNC[c.setting]} --shop {shop}"
        for c in changes
        if c.setting in FIRST_SYNC and c.new is True and not c.old
    ]


def form_assignments(form: Mapping[str, str], current: Switches) -> dict[str, str]:
    """``Switches.changed`` assignments from the settings form (checkboxes, tag, rate)."""
    found = {path: "on" if form.get(path) == "on" else "off" for path in SWITCH_FIELDS}
    for source in current.sources:
        found[f"sources.{source}"] = "on" if form.get(f"sources.{source}") == "on" else "off"
    found["customer_tag"] = (form.get("customer_tag") or "").strip()[:100] or "none"
    found["customer_tags"] = (form.get("customer_tags") or "").strip()[:500] or "none"
    paid = [k for k in PAYMENT_TYPES if form.get(f"paid_in_shopify.{k}") == "on"]
    found["paid_in_shopify"] = ",".join(paid) or "none"
    found["orders_per_minute"] = (form.get("orders_per_minute") or "0").strip()[:10]
    return found


def change_switches(
    store: SwitchStore,
    audit: Audit,
    *,
    shop: str,
    assignments: Mapping[str, str],
    by: str,
    now: datetime,
) -> list[Change]:
    """Apply the owner's changes; each changed setting is recorded. ``ValueError`` (with
    words for the owner) for a value the sync would not accept."""
    before = store.get(shop)
    after = before.changed(assignments)
    old, new = _flat(before), _flat(after)
    changes = [Change(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new))]
    changes = [c for c in changes if c.old != c.new]
    if not changes:
        return []
    store.put(shop, after)
    for change in changes:
        audit.record(
            {
                "at": now,
                "by": by,
                "area": f"sync_settings/{shop}",
                "setting": change.setting,
                "old": change.old,
                "new": change.new,
            }
        )
    return changes


def change_preferences(
    prefs: Preferences,
    audit: Audit,
    *,
    subscriber_id: str,
    wanted: Mapping[str, bool],
    by: str,
    now: datetime,
) -> list[Change]:
    current = prefs.load().get(subscriber_id, {})
    full = {kind: bool(wanted.get(kind, False)) for kind in NOTIFY_KINDS}
    changes = [
        Change(kind, current.get(kind, True), value)
        for kind, value in full.items()
        if current.get(kind, True) != value
    ]
    if not changes:
        return []
    prefs.put(subscriber_id, full)
    for change in changes:
        audit.record(
            {
                "at": now,
                "by": by,
                "area": f"notify_preferences/{subscriber_id}",
                "setting": change.setting,
                "old": change.old,
                "new": change.new,
            }
        )
    return changes


class FirestoreAudit:
    def __init__(self, client: Any, collection: str) -> None:
        self._collection = client.collection(collection)

    def record(self, entry: dict[str, Any]) -> None:
        from google.api_core import exceptions

        try:
            self._collection.add(entry, timeout=5.0)
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"audit write failed: {exc.__class__.__name__}") from exc

    def recent(self, limit: int) -> list[dict[str, Any]]:
        from google.cloud import firestore

        query = self._collection.order_by("at", direction=firestore.Query.DESCENDING).limit(limit)
        return [s.to_dict() or {} for s in query.stream(timeout=5.0)]
