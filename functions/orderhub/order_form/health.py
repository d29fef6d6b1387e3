"""``/health``: what the owner needs to know is broken, before a customer says so.

Owners only (managers get 403). One line per thing that can silently stop: each order
source's last order against its usual gap, the Gmail watch's expiry and the last history
sync, failed syncs and notifications of the last day, and the Shopify API version's end of
support. Each line is green, amber or red with what to do (docs/runbook.md says more).

A red line opens an incident (a Firestore document per line, created once): the owners on
the notify list who take alerts are told in Messenger once; the incident closes when the
line is no longer red, so the next failure is told again. The page reads one BigQuery job
and two Firestore documents per view; it is an owner's page, not polled by phones.
Dead-letter depth and the Cloud Monitoring alerts live in Cloud Monitoring (infra/monitoring.tf).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from flask import Blueprint, Response

from orderhub import logs
from orderhub.order_form.auth import login_required
from orderhub.order_form.pages import page
from orderhub.order_form.wiring import now, wiring

bp = Blueprint("health", __name__)

#: The sources whose silence matters, besides one per shipped e-mail rule (email:<service>).
SOURCES = ("shopify", "manual", "manychat")
WINDOW = timedelta(days=30)
#: A watch lasts 7 days and is renewed daily: under this left, a renewal was missed.
WATCH_AMBER = timedelta(days=5, hours=12)
WATCH_RED = timedelta(hours=12)
#: The catch-up job runs every 15 minutes, so the history is read at least that often.
SYNC_AMBER, SYNC_RED = timedelta(hours=1), timedelta(hours=6)
#: Shopify supports each stable API version for at least 12 months from its release.
SUPPORT_MONTHS = 12
SUPPORT_AMBER = timedelta(days=90)

RUNBOOK = "docs/runbook.md"


@dataclass(frozen=True)
class Line:
    key: str  # stable: the incident's id
    what: str
    state: str  # green | amber | red
    detail: str
    todo: str = ""


@dataclass(frozen=True)
class SourceStats:
    source: str
    orders: int
    first: datetime | None
    last: datetime | None


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(0, round(hours * 60))} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def source_line(stats: SourceStats, now: datetime) -> Line:
    """The last order against the usual gap between orders (over the last 30 days)."""
    key, what = f"source:{stats.source}", f"Orders from {stats.source}"
    if stats.last is None or stats.first is None:
        return Line(
            key,
            what,
            "amber",
            "no order in 30 days",
            "If this source should be in use, check it is connected.",
        )
    since = now - stats.last
    gap = (stats.last - stats.first) / (stats.orders - 1) if stats.orders > 1 else WINDOW
    gap = max(gap, timedelta(hours=1))
    detail = f"last order {_ago(since)} ago; usually one every {_ago(gap)}"
    if since > 4 * gap:
        todo = {
            "shopify": "Re-register the webhooks (scripts/shopify_register_webhooks), "
            "then scripts/resync.",
            "manual": "Ask the managers whether the order form works for them.",
            "manychat": "Check the bot's External Request in ManyChat and the chatbot secret.",
        }.get(stats.source, "Check the Gmail lines below, then the marketplace's e-mail settings.")
        return Line(key, what, "red", detail + ": far longer than usual", todo)
    if since > 2 * gap:
        return Line(key, what, "amber", detail, "Quieter than usual; red if it stays quiet.")
    return Line(key, what, "green", detail)


def watch_lines(mailbox: str, doc: Mapping[str, Any] | None, now: datetime) -> list[Line]:
    if not mailbox:
        return []
    doc = doc or {}
    lines: list[Line] = []
    expiry = doc.get("watch_expiration")
    fix = "Run scripts/gmail_authorize if the token expired, then the gmail-watch-renew job."
    if expiry is None:
        lines.append(Line("gmail:watch", "Gmail watch", "red", "never started", fix))
    else:
        left = expiry - now
        if left <= WATCH_RED:
            state, detail = "red", f"lapsed or lapsing: expires {expiry:%Y-%m-%d %H:%M} UTC"
        elif left <= WATCH_AMBER:
            state, detail = "amber", f"not renewed for a day: expires in {_ago(left)}"
        else:
            state, detail, fix = "green", f"expires in {_ago(left)}", ""
        lines.append(Line("gmail:watch", "Gmail watch", state, detail, fix))
    synced = doc.get("advanced_at") or doc.get("synced_at")
    if synced is None:
        lines.append(Line("gmail:sync", "Gmail history sync", "amber", "no sync yet", fix))
    else:
        since = now - synced
        state = "red" if since > SYNC_RED else "amber" if since > SYNC_AMBER else "green"
        todo = "" if state == "green" else "Check gmail_ingest's errors; " + fix
        lines.append(
            Line("gmail:sync", "Gmail history sync", state, f"last {_ago(since)} ago", todo)
        )
    authorized = doc.get("authorized_at")
    if doc.get("oauth_testing") and authorized is not None:
        age = now - authorized
        state = (
            "red" if age > timedelta(days=6) else "amber" if age > timedelta(days=5) else "green"
        )
        todo = (
            ""
            if state == "green"
            else "An app in Testing loses its token after 7 days: run scripts/gmail_authorize."
        )
        lines.append(
            Line(
                "gmail:token",
                "Gmail refresh token (app in Testing)",
                state,
                f"{_ago(age)} old",
                todo,
            )
        )
    return lines


def failures_line(what: str, key: str, count: int, todo: str) -> Line:
    state = "green" if count == 0 else "amber" if count < 5 else "red"
    return Line(key, what, state, f"{count} in the last 24 h", "" if state == "green" else todo)


def api_version_line(version: str, now: datetime) -> Line:
    what = "Shopify Admin API version"
    try:
        year, month = (int(p) for p in version.split("-"))
        end = datetime(
            year + (month - 1 + SUPPORT_MONTHS) // 12,
            (month - 1 + SUPPORT_MONTHS) % 12 + 1,
            1,
            tzinfo=UTC,
        )
    except ValueError:
        return Line(
            "shopify:api",
            what,
            "red",
            f"{version!r} is not a version",
            "Set SHOPIFY_API_VERSION to YYYY-MM.",
        )
    detail = f"{version}, supported until about {end:%Y-%m-%d}"
    todo = "Move to a newer version (infra var shopify_api_version) after testing it."
    if now >= end:
        return Line("shopify:api", what, "red", detail + ": past its end of support", todo)
    if end - now <= SUPPORT_AMBER:
        return Line("shopify:api", what, "amber", detail, todo)
    return Line("shopify:api", what, "green", detail)


# ----------------------------------------------------------------- reads and incidents
LAST_ORDERS = """
SELECT source, COUNT(*) AS orders, MIN(ingested_at) AS first, MAX(ingested_at) AS last,
  (SELECT COUNT(*) FROM `{t}.sync_log`
   WHERE status = 'failed' AND attempted_at >= @day) AS failed_syncs,
  (SELECT COUNT(*) FROM `{t}.notifications`
   WHERE status = 'failed' AND attempted_at >= @day) AS failed_notes
FROM `{t}.order_events`
WHERE event_type = 'order.created' AND ingested_at >= @since
GROUP BY source
"""


class Incidents(Protocol):
    def open(self, key: str, detail: str, *, now: datetime) -> bool:
        """Record an incident for ``key``; True only for the call that opened it."""
        ...

    def close(self, keys: Iterable[str]) -> None: ...


class FirestoreIncidents:
    """One document per open incident (``health_incidents/{key}``), created once."""

    def __init__(self, client: Any, collection: str) -> None:
        self._collection = client.collection(collection)

    def open(self, key: str, detail: str, *, now: datetime) -> bool:
        from google.api_core import exceptions

        try:
            self._collection.document(key.replace("/", "_")).create(
                {"opened_at": now, "detail": detail}
            )
        except exceptions.AlreadyExists:
            return False
        return True

    def close(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._collection.document(key.replace("/", "_")).delete()


def raise_incidents(
    lines: Sequence[Line], incidents: Incidents, tell: Callable[[str], None], *, now: datetime
) -> list[str]:
    """Open an incident per red line and tell the owners of each new one; close the rest."""
    told = []
    for line in lines:
        if line.state == "red" and incidents.open(line.key, line.detail, now=now):
            tell(f"OrderHub health: {line.what} is red ({line.detail}). {line.todo}".strip())
            told.append(line.key)
    incidents.close(line.key for line in lines if line.state != "red")
    return told


def tell_owners(text: str) -> None:
    """Messenger, through ManyChat, to the notify list's members who take alerts."""
    from orderhub.sinks.manychat import ManyChatClient, SendFailed

    token = os.environ.get("MANYCHAT_TOKEN", "")
    if not token:
        logs.warning("health alert not sent: MANYCHAT_TOKEN is not set")
        return
    client = ManyChatClient(
        base_url=os.environ.get("MANYCHAT_API_URL", "") or "https://api.manychat.com", token=token
    )
    for manager in wiring().notify_list.load() or ():
        if not manager.alerts:
            continue
        try:
            outcome = client.send_content(
                manager.subscriber_id, [{"type": "text", "text": text[:2000]}], None
            )
        except SendFailed as exc:
            logs.error("health alert not sent", manager_id=manager.subscriber_id, error=str(exc))
            continue
        logs.info(
            "health alert sent",
            manager_id=manager.subscriber_id,
            sent=outcome.sent,
            code=outcome.code,
        )


def _stats(rows: Sequence[Mapping[str, Any]], sources: Sequence[str]) -> list[SourceStats]:
    found = {r["source"]: r for r in rows}
    return [
        SourceStats(s, int(found[s]["orders"]), found[s]["first"], found[s]["last"])
        if s in found
        else SourceStats(s, 0, None, None)
        for s in sources
    ]


def gather(at: datetime) -> list[Line]:
    w = wiring()
    sources = [*SOURCES, *(rule.source for rule in w.rules)]
    rows = w.runner(
        LAST_ORDERS,
        [("since", "TIMESTAMP", at - WINDOW), ("day", "TIMESTAMP", at - timedelta(days=1))],
    )
    lines = [source_line(stats, at) for stats in _stats(rows, sources)]
    mailbox = os.environ.get("GMAIL_MAILBOX", "").strip().lower()
    if mailbox:
        snap = (
            w.firestore.collection(f"{w.settings.firestore_prefix}gmail_status")
            .document(mailbox)
            .get()
        )
        lines += watch_lines(mailbox, snap.to_dict() if snap.exists else None, at)
    failed_syncs = int(rows[0]["failed_syncs"]) if rows else 0
    failed_notes = int(rows[0]["failed_notes"]) if rows else 0
    lines.append(
        failures_line(
            "Failed syncs to Shopify",
            "sync:failed",
            failed_syncs,
            "Read them on the Needs attention page; scripts/resync after fixing.",
        )
    )
    lines.append(
        failures_line(
            "Failed notifications",
            "notify:failed",
            failed_notes,
            "A manager's Messenger window may be closed (3011): ask them to message the page.",
        )
    )
    lines.append(api_version_line(w.settings.shopify_api_version, at))
    return lines


@bp.get("/health")
@login_required(owner=True)
def health() -> Response:
    at = now()
    lines = gather(at)
    w = wiring()
    incidents = FirestoreIncidents(w.firestore, f"{w.settings.firestore_prefix}health_incidents")
    raise_incidents(lines, incidents, tell_owners, now=at)
    worst = (
        "red"
        if any(x.state == "red" for x in lines)
        else "amber"
        if any(x.state == "amber" for x in lines)
        else "green"
    )
    return page("health.html", lines=lines, worst=worst, here="/health", checked=at)
