"""``gmail_ingest`` and ``gmail_watch_renew``: delivery-service order e-mails → order events.

* ``entry``: the CloudEvent adapter of ``gmail_ingest``. Gmail pushes
  ``{"emailAddress": ..., "historyId": ...}`` to the topic ``gmail-push``. A message with
  only ``emailAddress`` (what the Cloud Scheduler catch-up job publishes, and what a run
  that stopped at its per-run limit publishes to continue) syncs from the stored
  checkpoint all the same. Transient faults raise, so Pub/Sub redelivers.
* ``watch_renew``: the HTTP adapter of ``gmail_watch_renew``. ``POST /`` (daily): renew
  ``users.watch`` (Gmail drops a watch after 7 days) and record its expiry, then run a
  catch-up sync. ``POST /?mode=catchup`` (e.g. hourly): the catch-up sync only, because
  Gmail says notifications can be delayed or dropped. The mailbox is ``GMAIL_MAILBOX``.
  HTTP functions are not retried: a failure answers 503 and the next run tries again.
* ``push``: Gmail's notification read out of its Pub/Sub message.
* ``sync``: the core: one run, its history and full syncs and each message's work, and
  ``renew_watch`` (its docstring states the guarantees).
* ``gmail_api``: the Gmail API calls a sync makes (``Gmail``) and the real client
  (``GmailApi``); Gmail's faults become ``TransientError``, ``HistoryGone``, ``MessageGone``.
* ``stores``: what a sync keeps between runs (checkpoint, lease, full sync; per-message
  attempts; per-service layout markers): the protocols and their Firestore versions.
* ``wiring``: the real clients, and ``run_sync`` (one sync with them); ``settings``.

A message becomes events in ``orderhub.sources.mail`` (shared with the CRM app's "read
again"), through the rules in ``orderhub.sources.email``.
"""
