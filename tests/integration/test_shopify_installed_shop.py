"""Issue 20, end to end on the emulators and the stand-in: a second merchant's shop
connects through the CRM app's install flow, an order for it is written into that shop
with its expiring offline token, then ``app/uninstalled`` (signed with the app's client
secret) disconnects it: the CRM records the fact (``shop_events``, no order), shopify_sync
switches the shop's outbound sync off, the settings page shows it disconnected, and a
later order is not sent (``sync_status`` says why)."""

from __future__ import annotations

import json
import os
from typing import Any

from devstack.shopify_sender import headers
from orderhub.event import decode, encode
from tests.conftest import ROOT, clear_caches, cloud_event, post_cloud_event
from tests.integration.test_crmapp import App, app  # noqa: F401 (the fixture)
from tests.integration.test_shopify_connect import SECRET, SHOP2, approve, shop2  # noqa: F401
from tests.integration.test_shopify_sync import form_order

SHOP_BODY = {  # the shape of Shopify's app/uninstalled body: the shop itself
    "id": 690933842,
    "name": "Second Merchant",
    "email": "owner@second-merchant.example",
    "domain": SHOP2,
    "myshopify_domain": SHOP2,
    "phone": "+351910000000",
}


def status(app: App, record_id: str) -> dict[str, Any]:  # noqa: F811
    rows = app.crm.query(
        "SELECT * FROM {ds}.sync_status WHERE record_id = @r AND shop = @s",
        r=record_id,
        s=SHOP2,
    )
    assert len(rows) == 1, rows
    return dict(rows[0])


def test_a_connected_shop_syncs_then_disconnects_on_app_uninstalled(
    app: App,  # noqa: F811
    shop2: Any,  # noqa: F811
) -> None:
    from functions_framework import create_app

    from orderhub.switches import FirestoreSwitches

    app.sign_in("olga")
    assert app.client.get(approve(app)).status_code == 303
    os.environ["SHOPIFY_WEBHOOK_SECRETS"] = json.dumps({"operator.myshopify.com": "other"})
    clear_caches()
    source = str(ROOT / "functions" / "main.py")
    sync_fn = create_app("shopify_sync", source, "cloudevent").test_client()
    hook_fn = create_app("shopify_webhook", source, "http").test_client()
    from google.cloud import firestore

    client = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])
    switches = FirestoreSwitches(client, app.prefix + "sync_settings")
    switches.put(SHOP2, switches.get(SHOP2).changed({"outbound.orders": "on"}))

    first = form_order(SHOP2)
    assert post_cloud_event(sync_fn, cloud_event(encode(first))).status_code == 200
    [written] = list(shop2.writes.orders.values())
    assert written["source_identifier"] == f"orderhub:manual:{first['entity_id']}"
    assert status(app, first["entity_id"])["status"] == "synced"
    issued = shop2.oauth.counts()["issued"]
    assert issued["authorization_code"] == 1  # written with the installation's own token,
    assert issued.get("client_credentials", 0) == 0  # not the operator app's credentials

    body = json.dumps(SHOP_BODY).encode()
    signed = headers(shop=SHOP2, secret=SECRET, topic="app/uninstalled", body=body)
    assert hook_fn.post("/", data=body, headers=signed).status_code == 200
    [message] = app.topic.pull(expect=1)
    event = decode(message.data)
    assert (event["event_type"], event["entity_type"]) == ("shop.uninstalled", "shop")
    assert "owner@second-merchant.example" not in message.data.decode()
    app.deliver(json.loads(message.data))  # crm_writer: a shop_events row, no order
    rows = app.crm.query("SELECT * FROM {ds}.shop_events WHERE shop = @s", s=SHOP2)
    assert [r["status"] for r in rows] == ["uninstalled"]
    assert app.crm.query("SELECT * FROM {ds}.order_events WHERE shop = @s", s=SHOP2) == []
    for _ in range(2):  # redelivered: the same outcome
        assert post_cloud_event(sync_fn, cloud_event(message.data)).status_code == 200
    assert switches.get(SHOP2).outbound_orders is False
    page = app.client.get("/settings/shops").get_data(as_text=True)
    assert "shop-disconnected" in page and "shop-connected" not in page

    later = form_order(SHOP2)
    assert post_cloud_event(sync_fn, cloud_event(encode(later))).status_code == 200
    assert len(shop2.writes.orders) == 1  # not sent
    skipped = status(app, later["entity_id"])
    assert skipped["status"] == "skipped"
    assert "disconnected: the app was uninstalled" in skipped["reason"]
