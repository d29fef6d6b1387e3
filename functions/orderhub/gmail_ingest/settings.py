"""What ``gmail_ingest`` and ``gmail_watch_renew`` need, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from orderhub.config import (
    DEFAULT_DATABASE,
    DEFAULT_ORDER_EVENTS_TOPIC,
    app_database,
    positive,
    project_id,
    required,
)


@dataclass(frozen=True)
class GmailSettings:
    """What ``gmail_ingest`` and ``gmail_watch_renew`` need.

    Credentials: ``GMAIL_CLIENT_ID``, ``GMAIL_CLIENT_SECRET`` and ``GMAIL_REFRESH_TOKEN``
    (from Secret Manager in production; ``scripts/gmail_authorize`` prints the token).
    ``GMAIL_API_URL`` points the client at another endpoint (the local stand-in); with it
    and no refresh token, anonymous credentials are used.
    """

    project: str
    topic: str
    firestore_prefix: str
    api_url: str | None
    client_id: str | None
    client_secret: str | None
    refresh_token: str | None
    mailbox: str | None  # the watched account, for gmail_watch_renew
    push_topic: str  # full topic path given to users.watch
    page_size: int
    full_sync_days: int  # how far back a mailbox's first sync reads
    full_sync_margin_hours: int  # a full sync reads from the last good sync minus this
    max_messages_per_run: int  # a longer backlog continues in the next run
    max_seconds_per_run: int  # likewise, by time (below the function's timeout)
    max_message_bytes: int  # larger mail is never fetched raw: quarantined by reference
    max_attempts: int  # a mail that brought down this many runs is set aside
    #: The CRM app's database (``APP_DATABASE``): the mailbox's status its health page
    #: reads (``gmail_status``), since the app cannot read the default database.
    app_database: str = DEFAULT_DATABASE
    #: Stored rules (``sources.stored_rules``) are at most this old (seconds, <= 60).
    rules_ttl_seconds: int = 60

    @property
    def only_mailbox(self) -> str | None:
        """The one mailbox notifications may name, when real credentials are in use.

        One refresh token reads one account; a notification for another address could
        only fail. The stand-in (no refresh token) serves every address, one mailbox
        each, which is how tests keep apart.
        """
        return self.mailbox if self.refresh_token else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GmailSettings:
        project = project_id(env)
        api_url = env.get("GMAIL_API_URL", "").strip() or None
        refresh = env.get("GMAIL_REFRESH_TOKEN", "").strip() or None
        client_id = client_secret = None
        if refresh or not api_url:
            refresh = required(env, "GMAIL_REFRESH_TOKEN")
            client_id = required(env, "GMAIL_CLIENT_ID")
            client_secret = required(env, "GMAIL_CLIENT_SECRET")
        push_topic = env.get("GMAIL_PUSH_TOPIC", "gmail-push").strip()
        if not push_topic.startswith("projects/"):
            push_topic = f"projects/{project}/topics/{push_topic}"

        return cls(
            project=project,
            app_database=app_database(env),
            topic=env.get("ORDER_EVENTS_TOPIC", DEFAULT_ORDER_EVENTS_TOPIC),
            firestore_prefix=env.get("FIRESTORE_PREFIX", ""),
            api_url=api_url,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh,
            mailbox=env.get("GMAIL_MAILBOX", "").strip().lower() or None,
            push_topic=push_topic,
            page_size=positive(env, "GMAIL_PAGE_SIZE", 100),
            full_sync_days=positive(env, "GMAIL_FULL_SYNC_DAYS", 3),
            full_sync_margin_hours=positive(env, "GMAIL_FULL_SYNC_MARGIN_HOURS", 24),
            max_messages_per_run=positive(env, "GMAIL_MAX_MESSAGES_PER_RUN", 500),
            max_seconds_per_run=positive(env, "GMAIL_MAX_SECONDS_PER_RUN", 60),
            max_message_bytes=positive(env, "GMAIL_MAX_MESSAGE_BYTES", 5_000_000),
            max_attempts=positive(env, "GMAIL_MAX_ATTEMPTS", 3),
            rules_ttl_seconds=min(positive(env, "EMAIL_RULES_TTL_SECONDS", 60), 60),
        )
