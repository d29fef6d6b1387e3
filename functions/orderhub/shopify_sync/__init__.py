"""CRM → Shopify: the ``shopify_sync`` consumer of ``order-events`` (issue 15).

This package owns the outbound direction of the two-way sync: orders that reached the CRM
from other sources (the order form, the marketplaces' e-mails, later the chat-bot) are
created in Shopify with ``orderCreate`` (and cancelled with ``orderCancel``), customers
upserted with ``customerSet`` and marketing consent sent with its real time. ``client``
speaks the Admin GraphQL API (cost pacing, ``THROTTLED`` retries, ``userErrors`` mapped to
reasons); ``plan`` decides, in pure code, what to write; ``markers`` names our writes so
that Shopify's echo webhooks join the CRM record instead of making a second one;
``links`` keeps the CRM id → Shopify id mapping (exactly one Shopify order per CRM order)
and the per-shop order rate; ``switches`` is the per-shop settings document read on every
run; ``sync`` ties them together and writes one ``sync_log`` row per outcome. The package
named ``sync`` next to this one is the other direction (reconciliation, backfill).
"""
