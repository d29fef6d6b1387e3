"""Talking to the ManyChat stand-in of the running stack, for integration and e2e tests."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import requests


def new_subscriber_id() -> str:
    """A subscriber id no other test uses: the stand-in is shared by the whole run."""
    return str(random.randint(10**11, 10**12 - 1))


class StandIn:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def script(self, subscriber_id: str, answer: str, times: int) -> None:
        response = requests.post(
            f"{self.url}/_stand_in/script",
            json={"subscriber_id": subscriber_id, "answer": answer, "times": times},
            timeout=5,
        )
        response.raise_for_status()

    def calls(self, subscriber_id: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.url}/_stand_in/received", params={"subscriber_id": subscriber_id}, timeout=5
        )
        response.raise_for_status()
        return list(response.json())

    def delivered(self, subscriber_id: str) -> list[dict[str, Any]]:
        return [c for c in self.calls(subscriber_id) if c["delivered"]]

    def wait_for(
        self,
        subscriber_id: str,
        until: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Poll this subscriber's calls until ``until(calls)`` holds (or the deadline)."""
        deadline = time.monotonic() + timeout
        calls = self.calls(subscriber_id)
        while not until(calls) and time.monotonic() < deadline:
            time.sleep(0.2)
            calls = self.calls(subscriber_id)
        return calls
