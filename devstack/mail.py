"""``scripts/dev mail FILE.eml [--to ADDRESS]``: an order e-mail into the local stack.

Delivers the file into the Gmail stand-in's mailbox, then publishes what Gmail's
``users.watch`` would: ``{"emailAddress": ..., "historyId": ...}`` on ``gmail-push``,
whose push subscription calls ``gmail_ingest``. From there the order travels the same
path as in production: Gmail API → rules → ``order-events`` → crm_writer → BigQuery.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from devstack.standins import gmail as standin


def deliver_and_notify(values: dict[str, str], raw: bytes, to: str | None = None) -> dict[str, Any]:
    """Deliver one message and fire the push; returns the stand-in's ``{id, historyId}``."""
    mailbox = (to or values["GMAIL_MAILBOX"]).lower()
    delivered = standin.deliver(values["GMAIL_API_URL"], mailbox, raw)
    os.environ["PUBSUB_EMULATOR_HOST"] = values["PUBSUB_EMULATOR_HOST"]
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(values["GOOGLE_CLOUD_PROJECT"], values["GMAIL_PUSH_TOPIC"])
    data = json.dumps({"emailAddress": mailbox, "historyId": int(delivered["historyId"])})
    publisher.publish(topic, data.encode()).result(timeout=10)
    return delivered


def main(stack: Any, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/dev mail", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help=".eml files (RFC 822)")
    parser.add_argument("--to", help="mailbox address (default: the stack's GMAIL_MAILBOX)")
    args = parser.parse_args(argv)
    from devstack.stack import read_env_file

    values = read_env_file(stack.endpoints_file)
    if "GMAIL_API_URL" not in values or not stack.running():
        print("dev mail: the stack is not running; start it with scripts/dev up")
        return 1
    for path in args.files:
        delivered = deliver_and_notify(values, path.read_bytes(), args.to)
        print(
            f"dev mail: {path.name} → message {delivered['id']}, historyId "
            f"{delivered['historyId']}; gmail_ingest notified"
        )
    return 0
