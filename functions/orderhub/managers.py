"""Who gets told: the managers, as configuration that changes without a deploy.

The list lives in the Firestore document ``settings/managers`` (collection name with
``FIRESTORE_PREFIX``), field ``managers``: ``[{"subscriber_id": "123", "name": "Anna"}]``
where ``subscriber_id`` is the manager's ManyChat subscriber id; an optional ``email`` is
where the notifier writes instead when Messenger's 24-hour window has closed. ``scripts/managers``
lists and sets it. When the document does not exist, the ``NOTIFY_MANAGERS`` variable
(the same JSON list) is the fallback, so a fresh deployment works before anyone ran the
script. An existing document always wins, even with an empty list: emptying it is how
an operator silences the notifier on purpose.

The notifier reads the list on every event (one small document read), so a change is
seen by the next order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orderhub.errors import ConfigError, TransientError

SETTINGS_COLLECTION = "settings"
MANAGERS_DOCUMENT = "managers"


@dataclass(frozen=True)
class Manager:
    subscriber_id: str
    name: str
    #: Told of new chat-bot contacts (``"contacts": false`` in settings/managers: not).
    contacts: bool = True
    #: Where the notifier writes when Messenger's 24-hour window is closed (optional).
    email: str | None = None
    #: Told of new and cancelled orders; of alerts (quarantine, privacy requests). Set by
    #: the owner in the CRM app (``notify_preferences``, see ``apply_preferences``).
    orders: bool = True
    alerts: bool = True

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"subscriber_id": self.subscriber_id, "name": self.name}
        if not self.contacts:
            found["contacts"] = False
        if self.email:
            found["email"] = self.email
        return found

    def wants(self, event_type: str) -> bool:
        """Whether this manager is told of events of this type (their own switches)."""
        kind = notify_kind(event_type)
        if kind == "contacts":
            return self.contacts
        if kind == "orders":
            return self.orders
        return self.alerts


#: What a manager can be told of, each switched on or off per manager.
NOTIFY_KINDS = ("orders", "alerts", "contacts")
PREFERENCES_COLLECTION = "notify_preferences"


def notify_kind(event_type: str) -> str:
    if event_type == "contact.touched":
        return "contacts"
    if event_type.startswith("order."):
        return "orders"
    return "alerts"


def apply_preferences(
    managers: tuple[Manager, ...], prefs: dict[str, dict[str, Any]]
) -> tuple[Manager, ...]:
    """The managers with the owner's choices (``notify_preferences/{subscriber_id}`` in the
    CRM app's database, written by the app) on top: a kind set there wins."""
    from dataclasses import replace

    found = []
    for manager in managers:
        chosen = prefs.get(manager.subscriber_id) or {}
        found.append(
            replace(
                manager,
                orders=bool(chosen.get("orders", manager.orders)),
                alerts=bool(chosen.get("alerts", manager.alerts)),
                contacts=bool(chosen.get("contacts", manager.contacts)),
            )
        )
    return tuple(found)


class FirestorePreferences:
    """``notify_preferences`` (the CRM app's database, ``APP_DATABASE``): one document per
    subscriber id. The notifier reads them; the CRM app's settings page (owners) writes them."""

    def __init__(self, client: Any, prefix: str = "") -> None:
        self._collection = client.collection(f"{prefix}{PREFERENCES_COLLECTION}")

    def load(self) -> dict[str, dict[str, Any]]:
        from google.api_core import exceptions

        try:
            return {s.id: s.to_dict() or {} for s in self._collection.stream(timeout=5.0)}
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore read failed: {exc.__class__.__name__}") from exc

    def put(self, subscriber_id: str, prefs: dict[str, bool]) -> None:
        """Replace one manager's choices."""
        self._collection.document(subscriber_id).set(prefs, timeout=5.0)


def parse(value: Any, *, where: str) -> tuple[Manager, ...]:
    """Managers from a JSON-like list; ``ConfigError`` naming ``where`` if malformed."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where} must be a JSON list of managers") from exc
    if not isinstance(value, list):
        raise ConfigError(f'{where} must be a list of {{"subscriber_id", "name"}} objects')
    managers: list[Manager] = []
    for item in value:
        if not isinstance(item, dict):
            raise ConfigError(f'{where}: each manager is an object {{"subscriber_id", "name"}}')
        subscriber = str(item.get("subscriber_id") or item.get("id") or "").strip()
        if not subscriber.isdigit():
            raise ConfigError(f"{where}: subscriber_id must be ManyChat's numeric subscriber id")
        name = str(item.get("name") or "").strip() or subscriber
        if any(m.subscriber_id == subscriber for m in managers):
            raise ConfigError(f"{where}: subscriber_id {subscriber} is listed twice")
        contacts = item.get("contacts", True)
        if not isinstance(contacts, bool):
            raise ConfigError(f"{where}: contacts must be true or false")
        email = str(item.get("email") or "").strip() or None
        if email is not None and (email.count("@") != 1 or any(c in email for c in " \r\n,;<>")):
            raise ConfigError(f"{where}: {subscriber}'s email is not one e-mail address")
        managers.append(Manager(subscriber, name, contacts, email))
    return tuple(managers)


class FirestoreManagers:
    """The ``settings/managers`` document."""

    def __init__(self, client: Any, prefix: str = "") -> None:
        self._doc = client.collection(f"{prefix}{SETTINGS_COLLECTION}").document(MANAGERS_DOCUMENT)

    def load(self) -> tuple[Manager, ...] | None:
        """The configured managers, or ``None`` when the document does not exist."""
        from google.api_core import exceptions

        try:
            snapshot = self._doc.get(timeout=5.0)
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore read failed: {exc.__class__.__name__}") from exc
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        return parse(data.get("managers") or [], where="settings/managers")

    def save(self, managers: tuple[Manager, ...]) -> None:
        self._doc.set({"managers": [m.as_dict() for m in managers]}, timeout=5.0)


def current(store: FirestoreManagers, fallback: str) -> tuple[Manager, ...]:
    """Firestore's list if the document exists, else ``NOTIFY_MANAGERS`` (may be empty)."""
    found = store.load()
    if found is not None:
        return found
    return parse(fallback, where="NOTIFY_MANAGERS") if fallback.strip() else ()
