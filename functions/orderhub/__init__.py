"""OrderHub: every order of a small shop in one CRM (BigQuery), managers told at once.

The package is the plain core of the Cloud Functions in ``functions/main.py``.
Nothing here imports functions-framework or Flask except ``orderhub.entrypoints``,
and no module does I/O at import time.
"""
