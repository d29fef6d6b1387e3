"""Issue 19: held events are released by event id. A release that stops after v1 (a
Pub/Sub error, Ctrl-C, a dead letter) leaves v2 held, and the next ``scripts/resync
--inbound`` brings it in; a held order that is the CRM's own comes in as the CRM order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.shopify import markers
from orderhub.shopify_sync.cli import resync_main
from tests.integration.test_inbound_switches import SHOP, Pipeline, recent_order, switch
from tests.integration.test_inbound_switches import pipeline as pipeline  # the fixture


class StopAfterFirst(Exception):
    pass


def test_a_release_stopped_halfway_is_finished_by_the_next_run(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    switch(SHOP, **{"inbound.orders": "off"})
    order = recent_order(minutes_ago=10)
    order_id = str(order["id"])
    later = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0).isoformat()
    assert pipeline.send("orders/create", order).text.strip() == "held"
    pipeline.deliver(expect=1)
    newer = {**order, "updated_at": later, "note": "v2"}
    assert pipeline.send("orders/updated", newer).text.strip() == "held"
    pipeline.deliver(expect=1)
    switch(SHOP, **{"inbound.orders": "on"})

    # The first run publishes v1, then dies (our stand-in for Pub/Sub failing on v2).
    from orderhub import bus as bus_module

    real_publish = bus_module.PubSubBus.publish
    published: list[str] = []

    def publish_once(self, event):  # type: ignore[no-untyped-def]
        if published:
            raise StopAfterFirst("the release stopped halfway")
        published.append(event["event_id"])
        return real_publish(self, event)

    monkeypatch.setattr(bus_module.PubSubBus, "publish", publish_once)
    with pytest.raises(StopAfterFirst):
        resync_main(["--shop", SHOP, "--inbound"])
    monkeypatch.undo()
    pipeline.deliver(expect=1)  # v1 is in the CRM, and logged as released
    capsys.readouterr()

    assert resync_main(["--shop", SHOP, "--inbound"]) == 0  # the second run
    assert "1 held event(s) sent into the CRM" in capsys.readouterr().out
    (second,) = pipeline.deliver(expect=1)
    assert second["entity"]["note"] == "v2"
    (row,) = pipeline.crm.query("SELECT note FROM {ds}.orders WHERE order_id = @id", id=order_id)
    assert row["note"] == "v2"
    assert resync_main(["--shop", SHOP, "--inbound"]) == 0  # nothing left
    assert "0 held event(s) sent into the CRM" in capsys.readouterr().out


def test_a_held_order_that_the_crm_wrote_is_released_as_the_crm_order(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """Held events kept before their producer recognised the CRM's orders (as every
    producer did before issue 19) come in as the CRM order, not as a second order."""
    import json

    from orderhub import inbound
    from orderhub.sinks.bigquery import BigQueryInserter, write_event
    from orderhub.sources.shopify import Delivery, normalise
    from orderhub.switches import Switches

    switch(SHOP, **{"inbound.orders": "on"})
    order = {
        **recent_order(minutes_ago=10),
        "source_identifier": markers.source_identifier("manual", "M-HELD19"),
        "app_id": 9876543,
    }
    body = json.dumps(order)
    raw = {
        "raw_id": f"raw-held-{order['id']}",
        "kind": "shopify_reconcile",
        "received_at": "2026-11-26T00:00:00.000Z",
        "sha256": "x",
        "body": body,
        "meta": {"topic": "orders/create"},
    }
    now = datetime.now(UTC)
    # held by a producer that did not know our app (the old behaviour)
    event = normalise(Delivery("orders/create", SHOP, "w", None, None, now), body.encode(), raw)
    held = inbound.hold(event, Switches().changed({"inbound.orders": "off"}))
    inserter = BigQueryInserter(pipeline.crm.client, pipeline.crm.dataset)
    write_event(held, inserter=inserter, now=lambda: now)

    assert resync_main(["--shop", SHOP, "--inbound"]) == 0
    assert "1 held event(s) sent into the CRM" in capsys.readouterr().out
    (released,) = pipeline.deliver(expect=1)
    assert (released["source"], released["entity_id"]) == ("manual", "M-HELD19")
    assert released["event_type"] == "order.updated"
    assert pipeline.orders(str(order["id"])) == []
    assert resync_main(["--shop", SHOP, "--inbound"]) == 0
    assert "0 held event(s) sent into the CRM" in capsys.readouterr().out
