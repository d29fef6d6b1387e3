"""The Gmail sync publishes every order of a mail that carries several (issue 11, item 8).

Uses the sync's own fakes (tests/gmailfakes.py), so it follows the sync however that is
wired.
"""

from tests.gmailfakes import World


def test_both_orders_of_a_two_order_mail_reach_the_bus_once_each():
    world = World()
    world.sync()  # the mailbox's first sync: nothing yet
    last = world.history_id(world.deliver("kiire_two_orders_nested_tables.eml"))

    world.sync(last)
    world.sync()  # a catch-up run lists the mail again

    orders = [(e["entity_id"], e["entity"]["total"]["amount"]) for e in world.bus.events]
    assert sorted(orders) == [("K-8A1B2", "7.70"), ("K-8A1B3", "9.00")]
