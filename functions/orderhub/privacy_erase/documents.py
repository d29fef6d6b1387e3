"""``Documents`` over Firestore: null every field whose text holds one of the needles.

Scans the root collections of the database (those starting with ``prefix``, the test and
dev prefix), and in each document every string, nested map and list. A matching field is
set to null rather than the document deleted (a document whose id holds a needle, such as a
sync link keyed by a customer's phone, is deleted), so a claim keeps claiming (a redelivered
webhook stays a duplicate) while the personal data is gone. Collections are small (TTL
policies keep them so) and redactions are rare, so a full scan per request is affordable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orderhub.errors import TransientError


def _holds(value: Any, needles: Sequence[str]) -> bool:
    if isinstance(value, str):
        text = value.lower()
        return any(n in text for n in needles)
    if isinstance(value, dict):
        return any(_holds(v, needles) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds(v, needles) for v in value)
    return False


def _paths(
    data: dict[str, Any], needles: Sequence[str], prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Field paths to null: the deepest map key whose value holds a needle."""
    found = []
    for key, value in data.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            found += _paths(value, needles, path)
        elif _holds(value, needles):
            found.append(path)
    return found


class FirestoreDocuments:
    def __init__(self, client: Any, *, prefix: str = "") -> None:
        self._client = client
        self._prefix = prefix

    def holding(self, needles: Sequence[str]) -> int:
        """Documents whose id or any field still holds a needle (the final search)."""
        from google.api_core import exceptions

        needles = [n.lower() for n in needles if n]
        if not needles:
            return 0
        found = 0
        try:
            for collection in self._client.collections():
                if not collection.id.startswith(self._prefix):
                    continue
                for snapshot in collection.stream():
                    if _holds(snapshot.id, needles) or _holds(snapshot.to_dict() or {}, needles):
                        found += 1
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore scan failed: {exc.__class__.__name__}") from exc
        return found

    def null_fields_holding(self, needles: Sequence[str]) -> int:
        from google.api_core import exceptions
        from google.cloud.firestore_v1.field_path import FieldPath

        needles = [n.lower() for n in needles if n]
        if not needles:
            return 0
        changed = 0
        try:
            for collection in self._client.collections():
                if not collection.id.startswith(self._prefix):
                    continue
                for snapshot in collection.stream():
                    if _holds(snapshot.id, needles):  # a link keyed by a phone or e-mail
                        snapshot.reference.delete()
                        changed += 1
                        continue
                    paths = _paths(snapshot.to_dict() or {}, needles)
                    if not paths:
                        continue
                    update = {FieldPath(*p).to_api_repr(): None for p in paths}
                    snapshot.reference.update(update)
                    changed += len(paths)
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"Firestore scan failed: {exc.__class__.__name__}") from exc
        return changed


class ChainedDocuments:
    """``Documents`` over several databases (the default one and the CRM app's): each
    is nulled and searched, and the counts add up."""

    def __init__(self, *parts: FirestoreDocuments) -> None:
        self._parts = parts

    def holding(self, needles: Sequence[str]) -> int:
        return sum(part.holding(needles) for part in self._parts)

    def null_fields_holding(self, needles: Sequence[str]) -> int:
        return sum(part.null_fields_holding(needles) for part in self._parts)
