"""List dead-lettered messages and replay chosen ones to the topic they came from.

Every push subscription ``<sub>`` (see ``FUNCTIONS`` in ``devstack.stack``) has a
dead-letter topic ``<sub>-dead-letter`` with a pull subscription of the same name.
Pub/Sub moves a message there after ``MAX_DELIVERY_ATTEMPTS`` failed deliveries and
marks it with ``CloudPubSubDeadLetterSource*`` attributes.

``list`` pulls every dead letter, prints one line each (message id, source
subscription, delivery count, event type and id: never the body, which carries personal
data) and lets them go again unacknowledged. ``replay ID...`` republishes the chosen
messages (same data, original attributes) to the source subscription's topic and only
then acknowledges them, so a failed publish loses nothing.

Works against the emulator (``.dev/endpoints.env``) or, with ``GOOGLE_CLOUD_PROJECT``
and no emulator host set, against real Pub/Sub.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from devstack.stack import FUNCTIONS, dead_letter_name

SOURCE_ATTRIBUTE = "CloudPubSubDeadLetterSourceSubscription"
COUNT_ATTRIBUTE = "CloudPubSubDeadLetterSourceDeliveryCount"
HOLD_SECONDS = 60


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    dead_letter_subscription: str
    source_subscription: str
    delivery_count: str
    event_type: str
    event_id: str
    ack_id: str
    data: bytes
    attributes: dict[str, str]


def dead_letter_subscriptions() -> list[str]:
    return sorted({dead_letter_name(sub) for fn in FUNCTIONS for _topic, sub in fn.subscriptions})


def _describe(data: bytes) -> tuple[str, str]:
    try:
        event = json.loads(data)
        return str(event.get("event_type") or "?"), str(event.get("event_id") or "?")
    except (ValueError, AttributeError):
        return "not-an-event", "?"


class DeadLetters:
    def __init__(self, project: str, subscriber: Any = None, publisher: Any = None) -> None:
        from google.cloud import pubsub_v1

        self.project = project
        self.subscriber = subscriber or pubsub_v1.SubscriberClient()
        self.publisher = publisher or pubsub_v1.PublisherClient()

    def pull_all(self, subscriptions: Iterable[str] | None = None) -> list[DeadLetter]:
        """Every waiting dead letter, held (unacknowledged) for ``HOLD_SECONDS``."""
        found: list[DeadLetter] = []
        for name in subscriptions or dead_letter_subscriptions():
            path = self.subscriber.subscription_path(self.project, name)
            while True:
                response = self.subscriber.pull(
                    subscription=path, max_messages=100, return_immediately=True, timeout=10
                )
                if not response.received_messages:
                    break
                ack_ids = [m.ack_id for m in response.received_messages]
                self.subscriber.modify_ack_deadline(
                    subscription=path, ack_ids=ack_ids, ack_deadline_seconds=HOLD_SECONDS
                )
                for received in response.received_messages:
                    message = received.message
                    attributes = dict(message.attributes)
                    event_type, event_id = _describe(message.data)
                    found.append(
                        DeadLetter(
                            message_id=message.message_id,
                            dead_letter_subscription=name,
                            source_subscription=attributes.get(SOURCE_ATTRIBUTE, "?"),
                            delivery_count=attributes.get(COUNT_ATTRIBUTE, "?"),
                            event_type=event_type,
                            event_id=event_id,
                            ack_id=received.ack_id,
                            data=message.data,
                            attributes=attributes,
                        )
                    )
        return found

    def release(self, letters: Iterable[DeadLetter]) -> None:
        """Give held dead letters back, unacknowledged, for the next list or replay."""
        by_sub: dict[str, list[str]] = {}
        for letter in letters:
            by_sub.setdefault(letter.dead_letter_subscription, []).append(letter.ack_id)
        for name, ack_ids in by_sub.items():
            self.subscriber.modify_ack_deadline(
                subscription=self.subscriber.subscription_path(self.project, name),
                ack_ids=ack_ids,
                ack_deadline_seconds=0,
            )

    def source_topic(self, letter: DeadLetter) -> str:
        """The topic of the subscription the message was dead-lettered from."""
        source = letter.source_subscription
        if source == "?":
            source = letter.dead_letter_subscription.removesuffix("-dead-letter")
        subscription = self.subscriber.get_subscription(
            subscription=self.subscriber.subscription_path(self.project, source)
        )
        return str(subscription.topic)

    def replay(self, letter: DeadLetter) -> str:
        """Republish to the source topic, then acknowledge; returns the new message id."""
        attributes = {
            k: v for k, v in letter.attributes.items() if not k.startswith("CloudPubSubDeadLetter")
        }
        new_id = self.publisher.publish(
            self.source_topic(letter), letter.data, **attributes
        ).result(timeout=30)
        self.subscriber.acknowledge(
            subscription=self.subscriber.subscription_path(
                self.project, letter.dead_letter_subscription
            ),
            ack_ids=[letter.ack_id],
        )
        return str(new_id)


def main(argv: list[str], project: str) -> int:
    if not argv or argv[0] not in ("list", "replay"):
        print("usage: scripts/deadletters list | replay MESSAGE_ID...", file=sys.stderr)
        return 2
    tool = DeadLetters(project)
    letters = tool.pull_all()
    try:
        if argv[0] == "list":
            if not letters:
                print("no dead letters")
            for letter in letters:
                print(
                    f"{letter.message_id}  from {letter.source_subscription}"
                    f"  deliveries={letter.delivery_count}  {letter.event_type}"
                    f"  event_id={letter.event_id}"
                )
            return 0
        wanted = set(argv[1:])
        if not wanted:
            print("replay: name at least one MESSAGE_ID (see list)", file=sys.stderr)
            return 2
        chosen = [letter for letter in letters if letter.message_id in wanted]
        for letter in chosen:
            new_id = tool.replay(letter)
            print(f"replayed {letter.message_id} → {tool.source_topic(letter)} as {new_id}")
        missing = wanted - {letter.message_id for letter in chosen}
        for message_id in sorted(missing):
            print(f"not found: {message_id}", file=sys.stderr)
        return 1 if missing else 0
    finally:
        tool.release(
            letter for letter in letters if argv[0] == "list" or letter.message_id not in argv[1:]
        )
