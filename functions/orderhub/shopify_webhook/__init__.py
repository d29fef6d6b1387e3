"""``shopify_webhook``: Shopify's webhooks → verified, de-duplicated canonical events.

* ``entry``: the HTTP adapter (status codes: 401 forged or unknown shop, 413 body too
  large or of unknown length, 503 so Shopify retries, 200 otherwise).
* ``receive``: the core: authenticate, normalise (``orderhub.sources.shopify``), claim and
  publish; its docstring says how duplicates and unreadable bodies are handled.
* ``wiring``: Firestore claims and Pub/Sub, batched by group commit (``orderhub.groupcommit``),
  and the shops' inbound switches; ``settings``.
"""
