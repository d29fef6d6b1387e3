"""``scripts/migrate-app-state``: copy the CRM app's lasting state from the default database
into the app's own (``APP_DATABASE``, ``crm-app``; docs/app-state.md). Run once, before the
functions that read it there are deployed.

Copied: the switches (``sync_settings``), who is told of what (``notify_preferences``), the
settings audit, the attention marks and the installed shops (``shopify_installations``);
and, for the /health page, the mailboxes' sync and watch times (``gmail_mailboxes`` to
``gmail_status``, those fields only, as gmail_ingest writes them from now on).
Sign-in throttles, sign-outs, claims, draft links and the change marker start empty
harmlessly (docs/runbook.md says what that means for a session signed out before the move).

Idempotent: a document already in the app's database with the same data is left alone; one
that differs (changed there since) is kept and reported, unless ``--overwrite``. Nothing is
deleted from the default database. ``--dev`` works on the local stack's emulator.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orderhub.config import DEFAULT_DATABASE, load_dev_env, project_id
from orderhub.managers import PREFERENCES_COLLECTION
from orderhub.shopify.installations import COLLECTION as INSTALLATIONS

#: What outlives a deploy, each ``{FIRESTORE_PREFIX}<name>``.
COLLECTIONS = (
    "sync_settings",
    PREFERENCES_COLLECTION,
    "settings_audit",
    "attention_marks",
    INSTALLATIONS,
)
#: (from, to, fields): a copy of some fields only.
STATUS = (
    "gmail_mailboxes",
    "gmail_status",
    ("advanced_at", "synced_at", "watch_expiration", "watched_at"),
)


@dataclass
class Copied:
    """Per collection: documents written, already there (same data), kept (they differ)."""

    written: dict[str, int] = field(default_factory=dict)
    same: dict[str, int] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)


def migrate(
    source: Any,
    target: Any,
    prefix: str = "",
    *,
    collections: Iterable[str] = COLLECTIONS,
    overwrite: bool = False,
) -> Copied:
    """Copy each collection's documents from ``source`` to ``target`` (Firestore clients),
    and the Gmail status fields (``STATUS``)."""
    copied = Copied()
    plan: list[tuple[str, str, tuple[str, ...] | None]] = [(c, c, None) for c in collections]
    for name, to, fields in [*plan, STATUS]:
        into = target.collection(f"{prefix}{to}")
        copied.written[to], copied.same[to], copied.kept[to] = 0, 0, []
        for snapshot in source.collection(f"{prefix}{name}").stream():
            data = snapshot.to_dict() or {}
            if fields is not None:
                data = {k: v for k, v in data.items() if k in fields}
            there = into.document(snapshot.id).get()
            if there.exists and (there.to_dict() or {}) == data:
                copied.same[to] += 1
                continue
            if there.exists and not overwrite:
                copied.kept[to].append(snapshot.id)
                continue
            into.document(snapshot.id).set(data)
            copied.written[to] += 1
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/migrate-app-state", description=__doc__)
    parser.add_argument("--dev", action="store_true", help="the local stack (endpoints.env)")
    parser.add_argument("--to", help="the app's database (default: APP_DATABASE, else crm-app)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace documents that differ in the target"
    )
    args = parser.parse_args(argv)
    if args.dev:
        load_dev_env()
    target_name = args.to or os.environ.get("APP_DATABASE", "").strip() or "crm-app"
    if target_name == DEFAULT_DATABASE:
        parser.error("the app's database must not be the default database")
    from google.cloud import firestore

    project = project_id(os.environ)
    prefix = os.environ.get("FIRESTORE_PREFIX", "")
    copied = migrate(
        firestore.Client(project=project),
        firestore.Client(project=project, database=target_name),
        prefix,
        overwrite=args.overwrite,
    )
    for name in (*COLLECTIONS, STATUS[1]):
        kept = copied.kept[name]
        print(
            f"{prefix}{name}: {copied.written[name]} copied, {copied.same[name]} already there"
            + (f", {len(kept)} differ and were kept: {', '.join(kept)}" if kept else "")
        )
    if any(copied.kept.values()):
        print("documents that differ were changed in the app's database since; --overwrite")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
