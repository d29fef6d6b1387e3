"""The managers' CRM app: orders, customers, what needs attention, settings.

The ``order_form`` function serves it: a Flask application (``web.create_app``) with one
blueprint per area (``auth``, ``form``, ``orders``, ``customers``, ``attention``,
``settings``), created once and dispatched from ``entrypoints/order_form.py``. The
blueprints hold routing and templates only; the work is in plain modules here:

* ``queries``: parameterised, bounded BigQuery reads (orders, an order's timeline,
  customers, the quarantine, sync and notification failures);
* ``attention``: marks on what needs attention (Firestore) and the replay of a
  quarantined e-mail from ``raw_events`` through today's rules;
* ``admin``: the owner's settings (sync switches, who is told of what), every change
  audited.
"""
