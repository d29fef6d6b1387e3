"""No order lost or doubled when a dependency fails: outages and poison on the real path.

Each test runs the real webhook, crm_writer and notifier (functions-framework) against
the emulators and the ManyChat stand-in, through a ``Pipeline`` of its own (fresh topic,
push subscriptions, dataset, two fresh managers), and ends by checking both what the
analysts see (the ``orders`` view) and what the managers were told (``notifications``
and the messages ManyChat took). It cuts a dependency with an ``Outage`` proxy rather
than killing the emulator: the BigQuery emulator keeps its data only in memory, and a
SIGSTOPped one would merely make requests hang until the client's 30 s timeout, so a
short outage would never exercise Pub/Sub's redelivery. A reset connection is what a
client sees of a service that is gone, and the emulator behind the proxy keeps
everything it stored.
"""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

from tests.faults import Outage, new_order, pipeline, wait_until


def orders_view(crm: Any, ids: list[str]) -> list[dict[str, Any]]:
    return crm.query(
        "SELECT order_id, financial_status, version FROM {ds}.orders "
        "WHERE order_id IN UNNEST(SPLIT(@ids, ','))",
        ids=",".join(ids),
    )


def told_once(p: Any, entity_id: str) -> list[dict[str, Any]]:
    """Every manager told about ``entity_id`` exactly once: one ``sent`` row each."""
    rows = p.wait_notified(entity_id)
    assert sorted((r["manager_id"], r["status"]) for r in p.notifications(entity_id)) == sorted(
        (m, "sent") for m in p.managers
    ), rows
    return rows


def event_rows(crm: Any, order_id: str) -> list[dict[str, Any]]:
    return crm.query(
        "SELECT event_id, COUNT(*) AS n FROM {ds}.order_events WHERE order_id = @id "
        "GROUP BY event_id",
        id=order_id,
    )


def test_bigquery_outage_while_orders_arrive_loses_nothing(
    emulators: dict[str, str], crm: Any
) -> None:
    bigquery = Outage(emulators["BIGQUERY_EMULATOR_HOST"].removeprefix("http://"))
    os.environ["BIGQUERY_EMULATOR_HOST"] = f"http://{bigquery.address}"
    try:
        with pipeline(emulators, crm, "bq-outage") as p:
            bigquery.cut()
            orders = [new_order() for _ in range(3)]
            answers = [p.post("orders/create", o, str(uuid.uuid4())) for o in orders]
            assert answers == [(200, "accepted")] * 3  # the webhook does not need BigQuery

            # Every order reached crm_writer and was refused while BigQuery was away.
            assert wait_until(lambda: p.recorder.failed() >= 3, timeout=20)
            assert bigquery.refused >= 3
            bigquery.restore()

            ids = [str(o["id"]) for o in orders]
            rows = crm.wait_for(
                "SELECT order_id FROM {ds}.orders WHERE order_id IN UNNEST(SPLIT(@ids, ','))",
                until=lambda r: len(r) == 3,
                timeout=30,
                ids=",".join(ids),
            )
            assert sorted(r["order_id"] for r in rows) == sorted(ids)
            for order_id in ids:
                assert len(event_rows(crm, order_id)) == 1  # one version, however often tried

            # The notifier sent while BigQuery was away, but could not record it: it was
            # redelivered, found the sends done, and wrote the missing rows, sending nothing
            # again. One row and one message per order and manager.
            for order_id in ids:
                told_once(p, order_id)
            for manager in p.managers:
                texts = p.messages(manager)
                assert len(texts) == 3
                assert sorted(o["name"] for o in orders) == sorted(
                    next(o["name"] for o in orders if o["name"] in t) for t in texts
                )
    finally:
        bigquery.close()


def test_firestore_outage_during_claim_answers_503_then_accepts_exactly_once(
    emulators: dict[str, str], crm: Any
) -> None:
    firestore = Outage(emulators["FIRESTORE_EMULATOR_HOST"])
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore.address
    try:
        with pipeline(emulators, crm, "fs-outage") as p:
            order, webhook_id = new_order(), str(uuid.uuid4())
            firestore.cut()
            assert p.post("orders/create", order, webhook_id)[0] == 503  # Shopify will retry
            assert firestore.refused >= 1
            firestore.restore()

            assert p.post("orders/create", order, webhook_id) == (200, "accepted")
            assert p.post("orders/create", order, webhook_id) == (200, "duplicate")
            marker = new_order()
            assert p.post("orders/create", marker, str(uuid.uuid4())) == (200, "accepted")

            order_id = str(order["id"])
            rows = crm.wait_for(
                "SELECT order_id FROM {ds}.orders WHERE order_id IN UNNEST(SPLIT(@ids, ','))",
                until=lambda r: len(r) == 2,
                timeout=20,
                ids=f"{order_id},{marker['id']}",
            )
            assert len(rows) == 2
            assert [r["order_id"] for r in orders_view(crm, [order_id])] == [order_id]
            assert [r["n"] for r in event_rows(crm, order_id)] == [1]  # published once

            told_once(p, order_id)
            told_once(p, str(marker["id"]))
            for manager in p.managers:  # the order and the marker, each once
                assert len(p.messages(manager)) == 2
    finally:
        firestore.close()


def test_poison_message_is_quarantined_and_acked_not_redelivered(
    emulators: dict[str, str], crm: Any
) -> None:
    with pipeline(emulators, crm, "poison") as p:
        poison = f"not json {uuid.uuid4()}".encode()
        poison_id = p.publish_raw(poison)
        marker = new_order()
        assert p.post("orders/create", marker, str(uuid.uuid4())) == (200, "accepted")

        body = base64.b64encode(poison).decode()
        quarantined = crm.wait_for(
            "SELECT q.reason, q.kind, q.raw_id FROM {ds}.quarantine AS q "
            "JOIN {ds}.raw_events AS r ON r.raw_id = q.raw_id WHERE r.body = @body",
            until=lambda r: len(r) >= 1,
            timeout=20,
            body=body,
        )
        assert len(quarantined) == 1
        assert quarantined[0]["kind"] == "pubsub_message"
        assert quarantined[0]["reason"].startswith("message is not JSON")

        # The order published after it went through the same subscription, and the
        # poison message was answered 2xx (acked) on its one delivery: no loop.
        crm.wait_for(
            "SELECT order_id FROM {ds}.orders WHERE order_id = @id",
            until=lambda r: len(r) == 1,
            timeout=20,
            id=str(marker["id"]),
        )
        deliveries = p.recorder.of(poison_id)
        assert [d.status for d in deliveries] == [200]

        # A person is told: each manager once, about the same quarantined message.
        rows = told_once(p, quarantined[0]["raw_id"])
        assert {r["event_type"] for r in rows} == {"payload.quarantined"}
        told_once(p, str(marker["id"]))
        for manager in p.managers:
            alerts = [t for t in p.messages(manager) if "could not be read" in t]
            assert len(alerts) == 1 and "message is not JSON" in alerts[0]
        assert [d.status for d in p.notifier.of(poison_id)] == [200]  # no loop there either
