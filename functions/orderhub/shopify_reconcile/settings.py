"""What ``shopify_reconcile`` (and the backfill) need, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from orderhub.config import (
    DEFAULT_DATABASE,
    DEFAULT_ORDER_EVENTS_TOPIC,
    app_database,
    bigquery_endpoint,
    project_id,
    required,
)
from orderhub.shopify.settings import ShopifyAdminSettings, admin_shops
from orderhub.shopify.settings import own_app_ids as read_app_ids


@dataclass(frozen=True)
class ReconcileSettings:
    """What ``shopify_reconcile`` needs."""

    project: str
    topic: str
    dataset: str
    bigquery_endpoint: str | None
    admin: ShopifyAdminSettings
    firestore_prefix: str
    #: Every shop reconciled, each with its own token and URL (``admin_shops``); a run
    #: without a shop named goes through all of them.
    shops: Mapping[str, ShopifyAdminSettings] = field(default_factory=dict)
    #: Our app's ids (``SHOPIFY_APP_IDS``, required): orders they created with our
    #: ``sourceIdentifier`` are the CRM's orders, not new Shopify orders.
    own_app_ids: frozenset[str] = frozenset()
    #: The Firestore database of the CRM app's state (``APP_DATABASE``, docs/app-state.md).
    app_database: str = DEFAULT_DATABASE

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ReconcileSettings:
        shops = admin_shops(env)
        default = env.get("SHOPIFY_SHOP_DOMAIN", "").strip().lower()
        return cls(
            project=project_id(env),
            topic=env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC),
            dataset=required(env, "BIGQUERY_DATASET"),
            bigquery_endpoint=bigquery_endpoint(env),
            admin=shops.get(default) or next(iter(shops.values())),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            shops=shops,
            own_app_ids=read_app_ids(env),
            app_database=app_database(env),
        )
