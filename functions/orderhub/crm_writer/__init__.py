"""``crm_writer``: every canonical event → append-only rows in the BigQuery CRM.

``entry`` is the CloudEvent adapter; ``write`` appends the rows, built and written by the
shared ``orderhub.sinks.bigquery`` (also used to read versions by reconciliation and the
sync), and then moves the orders list's change marker (``orderhub.changes``, Firestore).
"""
