"""Privacy requests carried out: Shopify's ``customers/redact`` and ``shop/redact``.

The webhook records each request in ``privacy_requests`` (ids only). The scheduled
``privacy_erase`` function reads the requests not yet done and, for each, finds what the
CRM holds of that customer (their orders, and the e-mail addresses and phone numbers those
rows carry), nulls the personal fields in every BigQuery table (``raw_events`` bodies
included) and in Firestore documents, checks that no table still holds the customer's
e-mail or phone, and appends an audit row (ids and counts only) to ``privacy_erasures``.
What it cannot change yet, such as rows still in BigQuery's streaming buffer, is named in
the audit row as ``pending`` and tried again on the next run. ``customers/data_request``
is answered by ``scripts/privacy_export``, which writes what the CRM holds as a JSON file.

``erasure`` is the plain core; ``warehouse`` and ``documents`` speak BigQuery and
Firestore; ``export`` assembles a data request's file.
"""
