"""The owner's choice in the CRM app (``notify_preferences``, default database) is what the
notifier does: a manager switched off for orders is not messaged about a new order."""

from __future__ import annotations

import os

from orderhub.managers import PREFERENCES_COLLECTION
from tests.integration.test_notifier import Env, notifier, order  # noqa: F401 (fixture)


def test_a_manager_switched_off_for_orders_is_not_told_the_other_is(
    notifier: Env,  # noqa: F811
) -> None:
    from google.cloud import firestore

    quiet, told = notifier.managers
    prefs = firestore.Client().collection(os.environ["FIRESTORE_PREFIX"] + PREFERENCES_COLLECTION)
    # What the app's settings page writes for this manager (order_form.admin.change_preferences).
    prefs.document(quiet).set({"orders": False, "alerts": True, "contacts": True})

    event = order()
    assert notifier.post(event) == 200
    assert notifier.standin.delivered(quiet) == []
    assert len(notifier.standin.delivered(told)) == 1
    assert [r["manager_id"] for r in notifier.rows(event["event_id"])] == [told]

    cancelled = order("order.cancelled")
    prefs.document(quiet).set({"orders": True, "alerts": True, "contacts": True})
    assert notifier.post(cancelled) == 200  # switched back on: told again
    assert len(notifier.standin.delivered(quiet)) == 1
