"""Entry for the operator scripts: find the project and emulators, then run the tool.

With ``.dev/endpoints.env`` present (a local stack) and no ``GOOGLE_CLOUD_PROJECT`` in
the environment, the stack's emulators are used; otherwise the environment decides
(real Google Cloud when no ``*_EMULATOR_HOST`` is set).
"""

from __future__ import annotations

import os
import sys

from devstack.stack import Stack, read_env_file


def main(argv: list[str]) -> int:
    if "GOOGLE_CLOUD_PROJECT" not in os.environ:
        values = read_env_file(Stack.from_env().endpoints_file)
        if not values:
            print("no GOOGLE_CLOUD_PROJECT and no local stack (scripts/dev up)", file=sys.stderr)
            return 2
        for key in ("GOOGLE_CLOUD_PROJECT", "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):
            os.environ[key] = values[key]
        os.environ.setdefault("NOTIFY_MANAGERS", values.get("NOTIFY_MANAGERS", ""))
        os.environ.setdefault("MANAGERS_DATABASE", values.get("MANAGERS_DATABASE", ""))
    project = os.environ["GOOGLE_CLOUD_PROJECT"]
    tool, rest = (argv[0], argv[1:]) if argv else ("", [])
    if tool == "managers":
        from devstack import managers

        return managers.main(rest, project)
    if tool == "deadletters":
        from devstack import deadletters

        return deadletters.main(rest, project)
    print("usage: python -m devstack.cli managers|deadletters ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
