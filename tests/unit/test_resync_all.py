"""``scripts/resync --all``'s machinery (issue 24): every record of a kind through the sync's
own handler, resumable after an interruption (a cursor), the cursor gone when the run
completes, and a summary that counts what was sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from orderhub.shopify_sync.resync import send_all


@dataclass
class Outcome:
    entity: str
    status: str


@dataclass
class Result:
    outcomes: list[Outcome] = field(default_factory=list)


class MemoryCursor:
    def __init__(self) -> None:
        self.after: str | None = None
        self.saved: list[str] = []

    def get(self) -> str | None:
        return self.after

    def put(self, key: str) -> None:
        self.after = key
        self.saved.append(key)

    def clear(self) -> None:
        self.after = None


def row(record_id: str, shop: str = "s.myshopify.com") -> dict[str, Any]:
    return {
        "event_id": "e" * 32,
        "event_type": "product.upserted",
        "source": "manual",
        "shop": shop,
        "occurred_at": "2026-12-01T10:00:00+00:00",
        "version": 1,
        "record_id": record_id,
        "entity_json": '{"title": "x"}',
    }


class Shopify:
    """A handler that writes each product once (the sync's links), and can die once."""

    def __init__(self, die_at: str | None = None) -> None:
        self.written: set[str] = set()
        self.die_at = die_at

    def __call__(self, event: dict[str, Any]) -> Result:
        record = event["entity_id"]
        if record == self.die_at:
            self.die_at = None
            raise KeyboardInterrupt  # the operator's Ctrl-C
        if record in self.written:
            return Result([Outcome("product", "skipped")])
        self.written.add(record)
        return Result([Outcome("product", "synced")])


def test_a_run_is_resumable_and_a_second_run_sends_nothing() -> None:
    rows = [row("crm-a"), row("crm-b"), row("crm-c"), row("crm-x", shop="other.myshopify.com")]
    shopify, cursor = Shopify(die_at="crm-b"), MemoryCursor()
    run = dict(kind="products", shop="s.myshopify.com", shop_of=lambda s: s, cursor=cursor)
    with pytest.raises(KeyboardInterrupt):
        send_all(rows, handle=shopify, **run)  # type: ignore[arg-type]
    assert cursor.after == "s.myshopify.com|manual|crm-a"  # where it stopped

    seen: list[int] = []
    resumed = send_all(rows, handle=shopify, progress=seen.append, **run)  # type: ignore[arg-type]
    assert (resumed.sent, resumed.total, resumed.resumed_after) == (2, 3, cursor.saved[0])
    assert len(seen) == 2 and cursor.after is None  # done: the next run starts over

    again = send_all(rows, handle=shopify, **run)  # type: ignore[arg-type]
    assert (again.sent, again.unchanged, again.failed, again.waiting) == (0, 3, 0, 0)
    assert shopify.written == {"crm-a", "crm-b", "crm-c"}  # never the other shop's
