"""List and set the managers the notifier tells (Firestore ``settings/managers``).

``list`` prints the current list and where it comes from; ``set ID=NAME ...`` replaces
it; ``add ID NAME`` and ``remove ID`` change one entry; ``email ID ADDRESS`` sets where
that manager is written to when their Messenger window has closed (``email ID`` clears
it). Against the local stack it uses ``.dev/endpoints.env``; with
``GOOGLE_CLOUD_PROJECT`` and no emulator host, the real Firestore of that project,
database ``MANAGERS_DATABASE`` (the notifier may only read it).
Takes effect with the next event: no deploy.
"""

from __future__ import annotations

import os
import sys

from orderhub.errors import ConfigError
from orderhub.managers import FirestoreManagers, current, parse


def main(argv: list[str], project: str) -> int:
    from google.cloud import firestore

    from orderhub.config import managers_database

    client = firestore.Client(project=project, database=managers_database(os.environ))
    store = FirestoreManagers(client, os.environ.get("FIRESTORE_PREFIX", ""))
    command, args = (argv[0], argv[1:]) if argv else ("list", [])
    try:
        stored = store.load()
        if command == "list":
            fallback = os.environ.get("NOTIFY_MANAGERS", "")
            managers = current(store, fallback)
            where = "Firestore settings/managers" if stored is not None else "NOTIFY_MANAGERS"
            print(f"{len(managers)} manager(s), from {where}:")
            for m in managers:
                print(f"  {m.subscriber_id:>16}  {m.name}" + (f"  <{m.email}>" if m.email else ""))
            return 0
        if command == "set":
            pairs = [arg.split("=", 1) for arg in args]
            managers = parse(
                [{"subscriber_id": p[0], "name": p[1] if len(p) > 1 else ""} for p in pairs],
                where="set",
            )
        elif command == "add" and args:
            base = list(stored or ())
            name = " ".join(args[1:])
            managers = parse(
                [m.as_dict() for m in base] + [{"subscriber_id": args[0], "name": name}],
                where="add",
            )
        elif command == "email" and args:
            address = args[1] if len(args) > 1 else None
            managers = parse(
                [
                    {**m.as_dict(), "email": address} if m.subscriber_id == args[0] else m.as_dict()
                    for m in stored or ()
                ],
                where="email",
            )
        elif command == "remove" and args:
            managers = tuple(m for m in (stored or ()) if m.subscriber_id not in args)
        else:
            print(
                "usage: scripts/managers [list | set ID=NAME... | add ID NAME | email ID [ADDRESS]"
                " | remove ID...]",
                file=sys.stderr,
            )
            return 2
    except ConfigError as exc:
        print(f"managers: {exc}", file=sys.stderr)
        return 2
    store.save(tuple(managers))
    print(f"saved {len(managers)} manager(s) to settings/managers")
    return 0
