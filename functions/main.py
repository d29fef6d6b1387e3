"""Cloud Functions entry points. Each one imports only what it uses, on first call.

The adapters live in ``orderhub.entrypoints``; the core in the rest of ``orderhub``.
Deploy with ``--entry-point`` set to one of the names below (see ``infra/``).
"""

from typing import Any


def shopify_webhook(request: Any) -> Any:
    """HTTP: Shopify webhooks → verified, de-duplicated canonical events on Pub/Sub."""
    from orderhub.entrypoints import shopify_webhook

    return shopify_webhook.handle(request)


def crm_writer(cloud_event: Any) -> None:
    """Pub/Sub CloudEvent: canonical events → append-only rows in the BigQuery CRM."""
    from orderhub.entrypoints import crm_writer

    crm_writer.handle(cloud_event)


def gmail_ingest(cloud_event: Any) -> None:
    """Pub/Sub CloudEvent (Gmail push): new order mail → canonical events on Pub/Sub."""
    from orderhub.entrypoints import gmail_ingest

    gmail_ingest.handle(cloud_event)


def gmail_watch_renew(request: Any) -> Any:
    """HTTP (Cloud Scheduler): renew users.watch and run a catch-up history sync."""
    from orderhub.entrypoints import gmail_watch_renew

    return gmail_watch_renew.handle(request)


def order_form(request: Any) -> Any:
    """HTTP: the managers' CRM app and order form → ``order.created`` events, payment links."""
    from orderhub.order_form import entry

    return entry.handle(request)


def shopify_reconcile(request: Any) -> Any:
    """HTTP (Cloud Scheduler): catch what Shopify's webhooks missed, via the Admin API."""
    from orderhub.entrypoints import shopify_reconcile

    return shopify_reconcile.handle(request)


def notifier(cloud_event: Any) -> None:
    """Pub/Sub CloudEvent: new and cancelled orders, quarantine alerts → managers (ManyChat)."""
    from orderhub.entrypoints import notifier

    notifier.handle(cloud_event)


def chatbot(request: Any) -> Any:
    """HTTP: ManyChat's External Request / Dynamic Block → contacts in the CRM, the catalogue."""
    from orderhub.entrypoints import chatbot

    return chatbot.handle(request)


def privacy_erase(request: Any) -> Any:
    """HTTP (Cloud Scheduler): carry out Shopify's customers/redact and shop/redact requests."""
    from orderhub.entrypoints import privacy_erase

    return privacy_erase.handle(request)


def shopify_sync(cloud_event: Any) -> None:
    """Pub/Sub CloudEvent: orders and customers from other sources → Shopify (two-way sync)."""
    from orderhub.entrypoints import shopify_sync

    shopify_sync.handle(cloud_event)
