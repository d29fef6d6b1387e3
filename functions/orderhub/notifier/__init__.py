"""``notifier``: new and cancelled orders, new chat contacts and quarantine alerts → the
managers, in Messenger through ManyChat (e-mail when a manager's window has closed).

* ``entry``: the CloudEvent adapter; ``notify``: the core (claim, send, record, once per
  order and manager); ``templates``: the messages; ``email_fallback``: the Gmail fallback.
* ``wiring``: the ledger, the managers and the owner's preferences, ManyChat, BigQuery.
"""
