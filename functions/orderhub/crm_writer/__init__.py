"""``crm_writer``: every canonical event → append-only rows in the BigQuery CRM.

``entry`` is the CloudEvent adapter; the rows are built and written by the shared
``orderhub.sinks.bigquery`` (also used to read versions by reconciliation and the sync).
"""
