"""On the running stack, the catch-up benchmark's scenario at a small scale: order mail and
other mail pile up while ingestion is down past Gmail's history; one notification later
every order is in the ``orders`` view, each once (``scripts/bench`` runs it at 500 + 2,000)."""

from __future__ import annotations

import os

from devstack import bench_gmail


def test_a_mailbox_catches_up_completely_after_the_404_full_sync_each_order_once(stack):
    os.environ["BIGQUERY_EMULATOR_HOST"] = stack["BIGQUERY_EMULATOR_HOST"]

    result = bench_gmail.catch_up(dict(stack), orders=30, others=120, timeout=120)

    assert result["seen"] == 30
    assert result["distinct_events"] == 30
    assert result["complete"]
