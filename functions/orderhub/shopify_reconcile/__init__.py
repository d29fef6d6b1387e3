"""``shopify_reconcile``: pulling from Shopify what its webhooks missed; the backfill.

* ``entry``: the HTTP adapter (Cloud Scheduler POSTs with an OIDC token). Runs orders,
  customers and products in turn, then the id check that finds deletes whose webhooks were
  missed, and answers a JSON summary. A transient fault (Shopify, BigQuery, Pub/Sub,
  Firestore away) answers 503 and Cloud Scheduler retries; the cursors of the resources not
  finished have not moved, so nothing is skipped. ``?shop=x.myshopify.com`` (or
  ``{"shop": ...}`` in a JSON body) reconciles that shop with its own Admin token and URL
  (``SHOPIFY_ADMIN_TOKENS`` / ``SHOPIFY_ADMIN_URLS``, as the sync); without one (the
  scheduled run) every configured shop is reconciled in turn, each with its own cursors.
  A shop without a token is 400. What a shop's inbound switch holds is published held
  (``orderhub.inbound``).
* ``run``: one shop's run; ``reconcile``: one resource, paged by ``updated_at`` from a
  cursor; ``deletes``: the id check; ``backfill`` and ``cli``: ``scripts/shopify_backfill``.
* ``wiring``: the real clients; ``settings``.
"""
