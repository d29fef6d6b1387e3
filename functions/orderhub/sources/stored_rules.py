"""Rules files kept as data: Firestore ``email_rules/{service}``, over the shipped files.

The owner writes a service's rules in the CRM app (``/services``); ``gmail_ingest`` reads
them through ``CachedRules`` (at most ``ttl`` seconds old, 60 by default), so a new or
changed service takes effect within a minute, with no deploy. The files shipped in
``sources/email_rules`` stay the defaults: a stored document for the same service
replaces that file, a stored document for another service is added (tried first).

* ``parse_yaml``: a rules text → ``email.Rules``, or ``RulesError`` naming the line;
* ``FirestoreRulesStore``: the documents, each version kept in ``versions/{n}`` with who
  saved it and when (the current one also on the service's document);
* ``merged``: shipped and stored rules, as ``gmail_ingest`` uses them;
* ``CachedRules``: ``merged`` at most ``ttl`` seconds old, compiled once per text.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orderhub import logs
from orderhub.errors import ConfigError, TransientError
from orderhub.sources import email

COLLECTION = "email_rules"
#: The longest a stored rules change waits to reach ``gmail_ingest``.
MAX_TTL_SECONDS = 60
#: Longest rules text accepted (the shipped files are ~4 KB).
MAX_YAML_CHARS = 100_000


class RulesError(ConfigError):
    """A rules text that cannot be used; ``line`` (1-based) where the problem is, if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


_PATH_RE = re.compile(r"^[^:]*: ([a-z_]+(?:\.[a-z_]+|\[\d+\])*)")


def line_of(text: str, path: str) -> int | None:
    """The 1-based line of a dotted path (``fields.total[0].regex``) in a YAML text: of
    the deepest part of it the text has."""
    import yaml

    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in re.findall(r"[a-z_]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if isinstance(node, yaml.SequenceNode) and index < len(node.value):
                node = node.value[index]
            elif index:  # one spec written without a list is its own [0]
                break
        elif isinstance(node, yaml.MappingNode):
            pair = next((kv for kv in node.value if getattr(kv[0], "value", None) == part), None)
            if pair is None:
                break
            node = pair[1]
        else:
            break
        line = node.start_mark.line + 1
    return line


def parse_yaml(text: str, name: str = "rules") -> email.Rules:
    """A rules text checked exactly as the shipped files are (``email.load_rules``);
    ``RulesError`` with the line of the problem."""
    import yaml

    if len(text) > MAX_YAML_CHARS:
        raise RulesError(f"the rules are over {MAX_YAML_CHARS:,} characters")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesError(f"not valid YAML: {problem}", mark.line + 1 if mark else None) from exc
    if not isinstance(data, dict):
        raise RulesError("the rules are a YAML mapping (service:, match:, fields: ...)", 1)
    try:
        return email.load_rules(data, name)
    except ConfigError as exc:
        message = str(exc)
        found = _PATH_RE.match(message)
        line = line_of(text, found.group(1)) if found else None
        unknown = re.search(r"unknown fields \['([a-z_]+)'", message)
        if unknown:
            line = line_of(text, f"fields.{unknown.group(1)}")
        raise RulesError(message.removeprefix(f"{name}: "), line) from exc


@dataclass(frozen=True)
class Stored:
    """One service's stored rules: its current text, version and who saved it when."""

    service: str
    yaml: str
    version: int
    by: str
    at: datetime | None


class FirestoreRulesStore:
    """``{prefix}email_rules/{service}``: ``yaml``, ``version``, ``by``, ``at``; every
    version also in ``versions/{version}`` (never changed once written)."""

    def __init__(self, client: Any, prefix: str = "") -> None:
        self._client = client
        self._collection = client.collection(f"{prefix}{COLLECTION}")

    @staticmethod
    def _call(what: str, call: Callable[[], Any]) -> Any:
        from google.api_core import exceptions

        try:
            return call()
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            raise TransientError(f"Firestore {what} failed: {exc.__class__.__name__}") from exc

    def load(self) -> dict[str, Stored]:
        snaps = self._call("rules read", lambda: list(self._collection.stream(timeout=10.0)))
        found = {}
        for snap in snaps:
            data = snap.to_dict() or {}
            if isinstance(data.get("yaml"), str):
                found[snap.id] = Stored(
                    snap.id,
                    data["yaml"],
                    int(data.get("version") or 0),
                    str(data.get("by") or ""),
                    data.get("at"),
                )
        return found

    def save(self, service: str, text: str, *, by: str, now: datetime) -> int:
        """Store a new version of the service's rules; its number."""
        from google.cloud import firestore

        ref = self._collection.document(service)

        @firestore.transactional  # type: ignore[misc]
        def write(transaction: Any) -> int:
            snapshot = ref.get(transaction=transaction)
            version = (
                int((snapshot.to_dict() or {}).get("version") or 0) + 1 if snapshot.exists else 1
            )
            record = {"service": service, "yaml": text, "version": version, "by": by, "at": now}
            transaction.set(ref.collection("versions").document(f"{version:06d}"), record)
            transaction.set(ref, record)
            return version

        return int(self._call("rules write", lambda: write(self._client.transaction())))

    def history(self, service: str, limit: int = 20) -> list[dict[str, Any]]:
        from google.cloud import firestore

        query = (
            self._collection.document(service)
            .collection("versions")
            .order_by("version", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [s.to_dict() or {} for s in self._call("rules read", lambda: list(query.stream()))]


def merged(
    shipped: Sequence[email.Rules], stored: Sequence[email.Rules]
) -> tuple[email.Rules, ...]:
    """The stored rules first (newest intention), then every shipped file that no stored
    document replaces."""
    replaced = {r.service for r in stored}
    return (*stored, *(r for r in shipped if r.service not in replaced))


class CachedRules:
    """``merged`` rules, reloaded from the store when older than ``ttl`` seconds.

    Each stored text is compiled once (keyed by its digest). A stored text that no longer
    loads (say, the format changed under it) is logged and its service keeps the shipped
    file; a store that does not answer keeps the rules last loaded (none yet: the
    ``TransientError`` goes up, and Pub/Sub redelivers the notification).
    """

    def __init__(
        self,
        load: Callable[[], Mapping[str, Stored]],
        shipped: Callable[[], Sequence[email.Rules]] = email.shipped_rules,
        *,
        ttl: float = MAX_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load, self._shipped, self._clock = load, shipped, clock
        self.ttl = min(float(ttl), MAX_TTL_SECONDS)
        self._lock = threading.Lock()
        self._rules: tuple[email.Rules, ...] | None = None
        self._loaded_at = 0.0
        self._compiled: dict[str, email.Rules] = {}

    def __call__(self) -> tuple[email.Rules, ...]:
        with self._lock:
            if self._rules is not None and self._clock() - self._loaded_at < self.ttl:
                return self._rules
            try:
                stored = self._load()
            except TransientError:
                if self._rules is None:
                    raise
                logs.warning("stored rules unreadable: keeping the rules last loaded")
                return self._rules
            self._rules = merged(self._shipped(), self._compile(stored))
            self._loaded_at = self._clock()
            return self._rules

    def _compile(self, stored: Mapping[str, Stored]) -> list[email.Rules]:
        found, compiled = [], {}
        for service in sorted(stored):
            text = stored[service].yaml
            key = hashlib.sha256(text.encode()).hexdigest()
            rules = self._compiled.get(key)
            if rules is None:
                try:
                    rules = parse_yaml(text, f"stored:{service}")
                except ConfigError as exc:
                    logs.error("stored rules do not load", service=service, error=str(exc))
                    continue
            compiled[key] = rules
            found.append(rules)
        self._compiled = compiled
        return found
