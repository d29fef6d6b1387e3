"""Issue 21: record ids that can be a customer's e-mail or phone are logged as keyed
digests, never as the identifier."""

import json

from orderhub import logs
from orderhub.shopify_sync.sync import Outcome


def test_a_record_id_is_logged_as_a_keyed_digest():
    key = "k" * 32
    assert logs.keyed("Ann@Example.com", key) == logs.keyed("ann@example.com", key)
    assert str(logs.keyed("ann@example.com", key)).startswith("k:")
    assert logs.keyed("ann@example.com", key) != logs.keyed("ann@example.com", "other-key")
    assert logs.keyed("ann@example.com", key) != logs.keyed("bob@example.com", key)
    assert logs.keyed("ann@example.com", "") == "[redacted]"


def test_shopify_sync_logs_no_record_id_in_clear(monkeypatch, capsys):
    from orderhub.shopify_sync import sync

    class Log:
        def record(self, row):
            self.row = row

    class Deps:
        log = Log()
        log_key = "k" * 32

        @staticmethod
        def now():
            from datetime import UTC, datetime

            return datetime(2026, 12, 1, tzinfo=UTC)

    context = sync._Ctx.__new__(sync._Ctx)
    context.event = {"event_id": "e1", "source": "form", "shop": "s"}
    context.deps, context.shop, context.source, context.crm_shop = Deps(), "s", "form", "s"
    context.result = sync.Result()
    context.record(Outcome("customer", "ann@example.com", "failed", "refused"))

    line = capsys.readouterr().out
    assert "ann@example.com" not in line
    assert json.loads(line)["record_id"] == logs.keyed("ann@example.com", "k" * 32)
