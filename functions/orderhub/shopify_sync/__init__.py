"""``shopify_sync``: CRM → Shopify, the consumer of ``order-events`` (the two-way sync).

This package owns the outbound direction of the two-way sync: orders that reached the CRM
from other sources (the order form, the marketplaces' e-mails, the chat-bot) are created in
Shopify with ``orderCreate`` (and cancelled with ``orderCancel``), customers upserted with
``customerSet`` and marketing consent sent with its real time.

* ``plan`` decides, in pure code, what to write; ``sync`` ties the pieces together and
  writes one ``sync_log`` row per outcome; ``links`` keeps the CRM id → Shopify id mapping
  (exactly one Shopify order per CRM order) and the per-shop order rate.
* Shared: ``orderhub.shopify.writer`` speaks the Admin GraphQL API (cost pacing,
  ``THROTTLED`` retries, ``userErrors`` mapped to reasons); ``orderhub.shopify.markers``
  names our writes so that Shopify's echo webhooks join the CRM record instead of making a
  second one; ``orderhub.switches`` is the per-shop settings document read on every run.
* ``entry`` is the CloudEvent adapter, ``wiring`` its clients, ``settings`` its settings;
  ``resync`` and ``cli`` serve ``scripts/resync`` and ``scripts/sync_settings``.

The other direction (reconciliation, backfill) is ``shopify_reconcile``.
"""
