"""The Gmail sync publishes every order of a mail that carries several (issue 11, item 8).

Uses the sync's own fakes and helpers (tests/unit/test_gmail_sync.py), so it follows the
sync however that is wired.
"""

from tests.unit.test_gmail_sync import Bus, Checkpoints, Claims, StandInGmail, deliver, run


def test_both_orders_of_a_two_order_mail_reach_the_bus_once_each():
    api, claims, checkpoints, bus = StandInGmail(), Claims(), Checkpoints(), Bus()
    last = deliver(api, "kiire_two_orders_nested_tables.eml")

    run(api, claims, checkpoints, bus, last)
    run(api, claims, checkpoints, bus, None)  # a catch-up run reads the mail again

    orders = [(e["entity_id"], e["entity"]["total"]["amount"]) for e in bus.events]
    assert sorted(orders) == [("K-8A1B2", "7.70"), ("K-8A1B3", "9.00")]
