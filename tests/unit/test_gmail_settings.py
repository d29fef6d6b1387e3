"""Gmail settings: production needs the OAuth secrets; the stand-in needs none."""

import pytest

from orderhub.errors import ConfigError
from orderhub.gmail_ingest.settings import GmailSettings

BASE = {"GOOGLE_CLOUD_PROJECT": "p"}
SECRETS = {"GMAIL_CLIENT_ID": "id", "GMAIL_CLIENT_SECRET": "s", "GMAIL_REFRESH_TOKEN": "r"}


def test_production_without_a_refresh_token_names_the_missing_variable():
    with pytest.raises(ConfigError, match="GMAIL_REFRESH_TOKEN"):
        GmailSettings.from_env({**BASE, "GMAIL_CLIENT_ID": "id"})


def test_real_credentials_read_only_the_configured_mailbox():
    settings = GmailSettings.from_env({**BASE, **SECRETS, "GMAIL_MAILBOX": "Owner@Shop.example"})
    assert settings.only_mailbox == "owner@shop.example"
    assert settings.push_topic == "projects/p/topics/gmail-push"


def test_the_stand_in_needs_no_secrets_and_serves_every_mailbox():
    settings = GmailSettings.from_env(
        {**BASE, "GMAIL_API_URL": "http://127.0.0.1:1", "GMAIL_MAILBOX": "a@b.example"}
    )
    assert settings.refresh_token is None
    assert settings.only_mailbox is None


def test_a_page_size_that_is_not_a_number_is_refused():
    with pytest.raises(ConfigError, match="GMAIL_PAGE_SIZE"):
        GmailSettings.from_env({**BASE, **SECRETS, "GMAIL_PAGE_SIZE": "many"})
