"""Cloud Functions entry points. Each one imports only what it uses, on first call.

Each function's code is the package of its name, ``orderhub/<function>/`` (``entry.py``
the adapter, ``wiring.py`` its clients, ``settings.py`` its settings); the Gmail watch
renewal lives in ``gmail_ingest``. Shared code is the rest of ``orderhub``.
Deploy with ``--entry-point`` set to one of the names below (see ``infra/``).
"""

from typing import Any


def shopify_webhook(request: Any) -> Any:
    """HTTP: Shopify webhooks → verified, de-duplicated canonical events on Pub/Sub."""
    from orderhub.shopify_webhook import entry as shopify_webhook

    return shopify_webhook.handle(request)


def crm_writer(cloud_event: Any) -> None:
    """Pub/Sub CloudEvent: canonical events → append-only rows in the BigQuery CRM."""
    from orderhub.crm_writer import entry as crm_writer

    crm_writer.handle(cloud_event)


def gmail_ingest(cloud_event: Any) -> None:
    """Pub/Sub CloudEvent (Gmail push): new order mail → canonical events on Pub/Sub."""
    from orderhub.gmail_ingest import entry as gmail_ingest

    gmail_ingest.handle(cloud_event)


def gmail_watch_renew(request: Any) -> Any:
    """HTTP (Cloud Scheduler): renew users.watch and run a catch-up history sync."""
    from orderhub.gmail_ingest import watch_renew as gmail_watch_renew

    return gmail_watch_renew.handle(request)


def order_form(request: Any) -> Any:
    """HTTP: the managers' order form → ``order.created`` events, or Shopify payment links."""
    from orderhub.order_form import entry as order_form

    return order_form.handle(request)


def shopify_reconcile(request: Any) -> Any:
    """HTTP (Cloud Scheduler): catch what Shopify's webhooks missed, via the Admin API."""
    from orderhub.shopify_reconcile import entry as shopify_reconcile

    return shopify_reconcile.handle(request)


def notifier(cloud_event: Any) -> None:
    """Pub/Sub CloudEvent: new and cancelled orders, quarantine alerts → managers (ManyChat)."""
    from orderhub.notifier import entry as notifier

    notifier.handle(cloud_event)


def chatbot(request: Any) -> Any:
    """HTTP: ManyChat's External Request / Dynamic Block → contacts in the CRM, the catalogue."""
    from orderhub.chatbot import entry as chatbot

    return chatbot.handle(request)


def privacy_erase(request: Any) -> Any:
    """HTTP (Cloud Scheduler): carry out Shopify's customers/redact and shop/redact requests."""
    from orderhub.privacy_erase import entry as privacy_erase

    return privacy_erase.handle(request)


def shopify_sync(cloud_event: Any) -> None:
    """Pub/Sub CloudEvent: orders and customers from other sources → Shopify (two-way sync)."""
    from orderhub.shopify_sync import entry as shopify_sync

    shopify_sync.handle(cloud_event)
