"""``scripts/manager``: add, list and remove the managers who may use the order form.

Managers live in the Firestore collection ``{FIRESTORE_PREFIX}managers`` of
``GOOGLE_CLOUD_PROJECT``, in the database ``MANAGERS_DATABASE`` (Terraform's
``managers_database``, default ``managers``; unset: the default database), with your
credentials as for any Google client, so changing them needs no deploy. ``--dev`` points
at the local stack's emulator instead (``.dev/endpoints.env``).

    scripts/manager add anna               # prints a generated password, once
    scripts/manager add anna --reset       # a new password; her old sessions end
    scripts/manager add olga --owner       # an owner: also the CRM app's settings
    scripts/manager role anna owner        # change a role (owner | manager), password kept
    echo 'pw' | scripts/manager add anna --password-stdin
    scripts/manager list
    scripts/manager remove anna
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from orderhub.order_form import sessions
from orderhub.order_form.stores import FirestoreAccounts, Manager


def _dev_environment(state_dir: Path) -> None:
    env_file = state_dir / "endpoints.env"
    if not env_file.exists():
        raise SystemExit(f"manager: {env_file} not found; start the stack with scripts/dev up")
    for line in env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("GOOGLE_CLOUD_PROJECT", "FIRESTORE_EMULATOR_HOST", "MANAGERS_DATABASE"):
            os.environ[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/manager", description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="use the local stack's Firestore")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a manager (or --reset a password)")
    add.add_argument("name")
    add.add_argument("--display-name", help="shown on the form (default: NAME)")
    add.add_argument("--reset", action="store_true", help="replace an existing password")
    add.add_argument("--password-stdin", action="store_true", help="read the password")
    add.add_argument("--owner", action="store_true", help="an owner (settings, sync switches)")
    role_cmd = commands.add_parser("role", help="make a manager an owner or a manager")
    role_cmd.add_argument("name")
    role_cmd.add_argument("role", choices=["owner", "manager"])
    commands.add_parser("list", help="list managers (never passwords)")
    remove = commands.add_parser("remove", help="remove a manager; their sessions end")
    remove.add_argument("name")
    args = parser.parse_args(argv)

    if args.dev:
        _dev_environment(Path(os.environ.get("ORDERHUB_DEV_DIR", ".dev")))
    project = os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        raise SystemExit("manager: set GOOGLE_CLOUD_PROJECT (or use --dev)")
    from google.cloud import firestore

    from orderhub.config import managers_database

    database = managers_database(os.environ)  # MANAGERS_DATABASE, as the form reads it
    managers = FirestoreAccounts(
        firestore.Client(project=project, database=database),
        f"{os.environ.get('FIRESTORE_PREFIX', '')}managers",
    )
    if args.command == "list":
        for manager in sorted(managers.list(), key=lambda m: m.id):
            state = "active" if manager.active else "disabled"
            print(f"{manager.id:20} {manager.name:30} {state:8} {manager.role}")
        return 0
    try:
        ident = sessions.manager_id(args.name)
    except ValueError as exc:
        raise SystemExit(f"manager: {exc}") from exc
    if args.command == "remove":
        managers.delete(ident)
        print(f"manager: removed {ident}")
        return 0
    existing = managers.get(ident)
    if args.command == "role":
        if existing is None:
            raise SystemExit(f"manager: no manager {ident}")
        managers.put(replace(existing, role=args.role), now=datetime.now(UTC))
        print(f"manager: {ident} is now {args.role}")
        return 0
    if existing is not None and not args.reset:
        raise SystemExit(f"manager: {ident} exists; use --reset for a new password")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < 10:
            raise SystemExit("manager: a password needs at least 10 characters")
        generated = False
    else:
        password, generated = sessions.new_password(), True
    name = args.display_name or (existing.name if existing else args.name)
    role = "owner" if args.owner else (existing.role if existing else "manager")
    managers.put(
        Manager(id=ident, name=name, password_hash=sessions.hash_password(password), role=role),
        now=datetime.now(UTC),
    )
    print(f"manager: {ident} {'updated' if existing else 'added'}")
    if generated:
        print(f"password (shown once): {password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
