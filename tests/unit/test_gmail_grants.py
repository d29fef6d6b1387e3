"""Issue 21: separate Gmail OAuth grants for reading and for sending. The notifier's
fallback uses its own gmail.send-only grant; the functions that read mail hold only the
gmail.readonly one."""

import re
from pathlib import Path

import pytest

from orderhub.errors import ConfigError
from orderhub.gmail_ingest import wiring as ingest_wiring
from orderhub.notifier import email_fallback
from orderhub.notifier.settings import NotifierSettings

INFRA = (Path(__file__).parents[2] / "infra" / "main.tf").read_text()
ENV = {"GOOGLE_CLOUD_PROJECT": "p", "BIGQUERY_DATASET": "d", "MANYCHAT_TOKEN": "t"}


def secrets_of(function: str) -> set[str]:
    block = INFRA.split(f"\n    {function} = {{", 1)[1].split("\n    }\n", 1)[0]
    found = re.search(r"secrets\s*=\s*\[([^\]]*)\]", block)
    return set(re.findall(r'"([A-Z_]+)"', found.group(1))) if found else set()


def test_the_notifier_does_not_take_the_readers_grant():
    with pytest.raises(ConfigError, match="GMAIL_SEND_REFRESH_TOKEN"):
        NotifierSettings.from_env(
            {**ENV, "NOTIFY_FALLBACK_FROM": "o@shop.example", "GMAIL_REFRESH_TOKEN": "r"}
        )
    on = NotifierSettings.from_env(
        {**ENV, "NOTIFY_FALLBACK_FROM": "o@shop.example", "GMAIL_SEND_REFRESH_TOKEN": "s"}
    )
    assert on.gmail_refresh_token == "s"


def test_each_function_holds_only_its_own_grant():
    assert email_fallback.SEND_SCOPE.endswith("gmail.send")
    assert all(s.endswith("gmail.readonly") for s in ingest_wiring.GMAIL_SCOPES)
    for reader in ("gmail_ingest", "gmail_watch_renew"):
        assert "GMAIL_REFRESH_TOKEN" in secrets_of(reader)
        assert "GMAIL_SEND_REFRESH_TOKEN" not in secrets_of(reader)
    assert "GMAIL_SEND_REFRESH_TOKEN" in secrets_of("notifier")
    assert "GMAIL_REFRESH_TOKEN" not in secrets_of("notifier")
