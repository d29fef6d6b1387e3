"""scripts/shopify_backfill on the running stack: a shop's history lands, nobody is messaged."""

import random
from datetime import UTC, datetime, timedelta

import requests

from devstack import dataset
from devstack.shopify_sender import fixture, send
from orderhub.shopify_reconcile import cli
from tests.conftest import Crm


def test_backfill_brings_history_in_without_messaging_managers(stack, monkeypatch, capsys):
    old = (datetime.now(UTC) - timedelta(days=400)).replace(microsecond=0).isoformat()
    ids = [random.randrange(10**15, 10**16) for _ in range(3)]
    for order_id in ids:
        order = {**fixture("order"), "id": order_id, "created_at": old, "updated_at": old}
        response = requests.post(
            f"{stack['SHOPIFY_ADMIN_URL']}/_standin/shop/orders", json=order, timeout=10
        )
        assert response.status_code == 201
    for key in (
        "GOOGLE_CLOUD_PROJECT",
        "PUBSUB_EMULATOR_HOST",
        "SHOPIFY_SHOP_DOMAIN",
        "SHOPIFY_ADMIN_URL",
        "SHOPIFY_ADMIN_TOKEN",
        "ORDER_EVENTS_TOPIC",
        "SHOPIFY_APP_IDS",
    ):
        monkeypatch.setenv(key, stack[key])

    assert cli.main(["--resource", "orders"]) == 0
    summary = capsys.readouterr().out
    assert '"resource": "orders"' in summary and '"published"' in summary

    crm = Crm(
        dataset.bigquery_client(stack["GOOGLE_CLOUD_PROJECT"], stack["BIGQUERY_EMULATOR_HOST"]),
        stack["BIGQUERY_DATASET"],
    )
    wanted = {str(i) for i in ids}
    rows = crm.wait_for(
        "SELECT order_id, ARRAY_LENGTH(line_items) AS lines FROM {ds}.orders",
        lambda r: wanted <= {row["order_id"] for row in r},
    )
    assert {row["order_id"]: row["lines"] for row in rows if row["order_id"] in wanted} == {
        order_id: 3 for order_id in wanted
    }
    # History is not news: the notifier skipped every backfilled event. A live order sent
    # afterwards is messaged, so by then the notifier has seen the backfilled ones too.
    control = {**fixture("order"), "id": random.randrange(10**15, 10**16)}
    send(
        stack["SHOPIFY_WEBHOOK_URL"],
        shop=stack["SHOPIFY_SHOP_DOMAIN"],
        secret=stack["SHOPIFY_API_SECRET"],
        topic="orders/create",
        payload=control,
    )
    assert crm.wait_for(
        "SELECT 1 FROM {ds}.notifications WHERE order_id = @id AND status = 'sent'",
        lambda r: r,
        id=str(control["id"]),
    )
    sent = crm.query(
        "SELECT COUNT(*) AS n FROM {ds}.notifications WHERE order_id IN UNNEST(@ids)".replace(
            "@ids", "[" + ",".join(f"'{i}'" for i in wanted) + "]"
        )
    )
    assert sent[0]["n"] == 0
