"""OrderHub: every order of a small shop in one CRM (BigQuery), managers told at once.

The package is the plain core of the Cloud Functions in ``functions/main.py``.
Each deployed function has a package of its name (``settings``, ``wiring``, ``entry``);
nothing but the entry modules and the CRM app (``order_form``) imports Flask,
and no module does I/O at import time.
"""
