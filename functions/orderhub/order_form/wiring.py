"""``order_form``'s real collaborators, built on first use and kept for the instance.

``wiring()`` reads the settings once; each client or store is made when a view first
needs it (a sign-in never loads BigQuery). Tests forget them with ``wiring.cache_clear()``.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orderhub import gcp
from orderhub.bus import PubSubBus
from orderhub.changes import FirestoreChanges
from orderhub.order_form.catalogue import BigQueryCatalogue
from orderhub.order_form.sessions import Signer
from orderhub.order_form.settings import OrderFormSettings
from orderhub.order_form.stores import (
    FirestoreAccounts,
    FirestoreDraftLinks,
    FirestoreThrottle,
    LeasedFirestoreClaims,
)
from orderhub.shopify.admin import ShopifyAdmin
from orderhub.shopify.tokens import ClientCredentials, StaticToken, TokenSource, token_url

if TYPE_CHECKING:  # the CRM's pages' modules load on first use (phonenumbers, rules)
    from orderhub.managers import FirestoreManagers as NotifyList
    from orderhub.managers import FirestorePreferences
    from orderhub.order_form.admin import FirestoreAudit
    from orderhub.order_form.attention import FirestoreMarks
    from orderhub.order_form.queries import BigQueryRunner, Param, Rows
    from orderhub.sources.email import Rules
    from orderhub.sources.stored_rules import CachedRules, FirestoreRulesStore
    from orderhub.switches import FirestoreSwitches

#: A resubmitted page is recognised for this long (the form token's claim lifetime).
CLAIM_TTL = timedelta(days=7)


def now() -> datetime:
    return datetime.now(UTC)


class Wiring:
    """Real collaborators, each created on first use."""

    def __init__(self, settings: OrderFormSettings) -> None:
        self.settings = settings
        self.signer = Signer(settings.session_secret)

    def _collection(self, name: str) -> str:
        return f"{self.settings.firestore_prefix}{name}"

    @functools.cached_property
    def firestore(self) -> Any:
        """The app's own database (``APP_DATABASE``, docs/app-state.md): every store the app
        writes lives there. The app keeps no client of the default database, whose sync
        documents it may not touch."""
        return gcp.firestore_client(self.settings.project, self.settings.app_database)

    @functools.cached_property
    def managers(self) -> FirestoreAccounts:
        # Managers and their password hashes live in a database this function may only
        # read; sign-outs are written beside the form's other state.
        database = gcp.firestore_client(self.settings.project, self.settings.managers_database)
        return FirestoreAccounts(
            database,
            self._collection("managers"),
            signouts=self.firestore.collection(self._collection("manager_signouts")),
        )

    @functools.cached_property
    def throttle(self) -> FirestoreThrottle:
        return FirestoreThrottle(self.firestore, self._collection("signin_throttle"))

    @functools.cached_property
    def claims(self) -> LeasedFirestoreClaims:
        return LeasedFirestoreClaims(
            self.firestore, self._collection("order_form_claims"), CLAIM_TTL
        )

    @functools.cached_property
    def links(self) -> FirestoreDraftLinks:
        return FirestoreDraftLinks(self.firestore, self._collection("draft_links"), CLAIM_TTL)

    @functools.cached_property
    def bus(self) -> PubSubBus:
        topic = gcp.topic_path(self.settings.project, self.settings.topic)
        return PubSubBus(gcp.publisher(), topic)

    @functools.cached_property
    def catalogue(self) -> BigQueryCatalogue:
        client = gcp.bigquery_client(self.settings.project, self.settings.bigquery_endpoint)
        return BigQueryCatalogue(client, self.settings.dataset)

    @functools.cached_property
    def shopify(self) -> ShopifyAdmin:
        import requests

        s = self.settings
        session = requests.Session()
        tokens: TokenSource = StaticToken(s.shopify_admin_token)
        if s.shopify_client_id:
            tokens = ClientCredentials(
                token_url(s.shopify_admin_url),
                s.shopify_client_id,
                s.shopify_client_secret,
                session=session,
            )
        return ShopifyAdmin(
            base_url=s.shopify_admin_url,
            tokens=tokens,
            api_version=s.shopify_api_version,
            session=session,
        )

    # ------------------------------------------------------------- the CRM's pages
    @functools.cached_property
    def runner(self) -> BigQueryRunner:
        from orderhub.order_form.queries import BigQueryRunner

        client = gcp.bigquery_client(self.settings.project, self.settings.bigquery_endpoint)
        return BigQueryRunner(client, self.settings.crm_dataset)

    @functools.cached_property
    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=4, thread_name_prefix="crm-query")

    def parallel(self, *jobs: tuple[str, list[Param]]) -> list[Rows]:
        """Run independent queries at once (a page's reads): their rows, in order."""
        futures = [self._pool.submit(self.runner, sql, params) for sql, params in jobs]
        return [f.result() for f in futures]

    @functools.cached_property
    def changes(self) -> FirestoreChanges:
        """The orders list's change marker, which crm_writer moves (``orderhub.changes``)."""
        return FirestoreChanges(self.firestore, self.settings.firestore_prefix)

    @functools.cached_property
    def marks(self) -> FirestoreMarks:
        from orderhub.order_form.attention import FirestoreMarks

        return FirestoreMarks(self.firestore, self._collection("attention_marks"))

    @functools.cached_property
    def audit(self) -> FirestoreAudit:
        from orderhub.order_form.admin import FirestoreAudit

        return FirestoreAudit(self.firestore, self._collection("settings_audit"))

    @functools.cached_property
    def preferences(self) -> FirestorePreferences:
        """Who is told of what: written here, read by the notifier (one class for both)."""
        from orderhub.managers import FirestorePreferences

        return FirestorePreferences(self.firestore, self.settings.firestore_prefix)

    @functools.cached_property
    def switches(self) -> FirestoreSwitches:
        from orderhub.switches import FirestoreSwitches

        return FirestoreSwitches(self.firestore, self._collection("sync_settings"))

    @functools.cached_property
    def notify_list(self) -> NotifyList:
        """Who the notifier tells (settings/managers, in the managers database: read only)."""
        from orderhub.managers import FirestoreManagers as NotifyList

        database = gcp.firestore_client(self.settings.project, self.settings.managers_database)
        return NotifyList(database, self.settings.firestore_prefix)

    @functools.cached_property
    def rules_store(self) -> FirestoreRulesStore:
        """The owner's rules for delivery services (``/services``), read by gmail_ingest."""
        from orderhub.sources.stored_rules import FirestoreRulesStore

        return FirestoreRulesStore(self.firestore, self.settings.firestore_prefix)

    @functools.cached_property
    def _rules(self) -> CachedRules:
        from orderhub.sources.stored_rules import CachedRules

        return CachedRules(self.rules_store.load, ttl=0)  # "read again" uses the newest

    @property
    def rules(self) -> tuple[Rules, ...]:
        """The shipped rules files with the stored ones over them."""
        return self._rules()


@functools.cache
def wiring() -> Wiring:
    return Wiring(OrderFormSettings.from_env())
