"""The core of ``shopify_sync``: one canonical event → the Shopify writes it calls for.

Which events: orders (``order.created``/``order.updated``/``order.cancelled``) and
customers (``customer.upserted``) whose source is not Shopify. Shopify's own events are
never written back (no loop); Shopify's echo of an order we wrote arrives as an
``order.updated`` of the CRM order carrying ``shopify_order_id`` and only confirms the link.

**Exactly one Shopify order per CRM order.** ``orderCreate`` has no idempotency key, so:
the link (Firestore) is claimed first, which settles concurrent deliveries (one writes,
the others raise and are redelivered); then Shopify is asked for an order with our
``sourceIdentifier`` (it may have been created by an attempt that died before recording
it); only then ``orderCreate``, and the link is recorded as soon as Shopify answers. A
timeout leaves the claim open for the next attempt, which looks up before it creates.

**Outcomes.** Each is a ``sync_log`` row (``synced``, ``skipped``, ``failed``, ``waiting``)
with a reason in plain words. ``waiting`` raises ``TransientError`` so Pub/Sub redelivers
(Shopify throttled or unreachable, the order rate of trial shops, another delivery busy);
``failed`` is a refusal that retrying cannot change: it is logged, the managers are
alerted once (a ``payload.quarantined`` event of kind ``shopify_sync``, which the notifier
delivers exactly once), and the message is acknowledged. ``scripts/resync`` sends it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from orderhub import logs
from orderhub.bus import Bus
from orderhub.errors import ConfigError, TransientError
from orderhub.event import Event, make_event, stable_id, version_of
from orderhub.shopify import markers
from orderhub.shopify.writer import (
    OrderFulfilment,
    Refused,
    ShopifyCustomer,
    ShopifyWriter,
    UserError,
    quoted,
)
from orderhub.shopify_sync import items, plan
from orderhub.shopify_sync.links import Links, OrderRate, RateWait, link_key
from orderhub.sinks.bigquery import Inserter, build_row
from orderhub.switches import Switches

SYNC_LOG_TABLE = "sync_log"
DIRECTION = "outbound"


class SyncLog(Protocol):
    def record(self, row: dict[str, Any]) -> None: ...


class BigQuerySyncLog:
    """``sync_log`` rows through the CRM's inserter (insertId = the row's ``log_id``)."""

    def __init__(self, inserter: Inserter) -> None:
        self._inserter = inserter

    def record(self, row: dict[str, Any]) -> None:
        schema = self._inserter.schema(SYNC_LOG_TABLE)
        self._inserter.insert(SYNC_LOG_TABLE, [build_row(schema, row)], [str(row["log_id"])])


@dataclass
class Deps:
    writer: Callable[[str], ShopifyWriter]  # shop → its writer
    links: Links
    switches: Callable[[str], Switches]  # shop → its settings, read on every run
    rate: OrderRate
    log: SyncLog
    alerts: Bus
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    lease: timedelta = timedelta(seconds=120)
    #: How long a create whose outcome is unknown (a timeout, a 5xx after sending) stays
    #: ``sending``: longer than Shopify's search index lags, so that no redelivery creates
    #: again before the order can be found; Shopify's echo webhook confirms it sooner.
    settle: timedelta = timedelta(seconds=120)
    #: The longest one delivery waits for the shop's order rate before handing back.
    max_rate_wait: float = 30.0
    #: The event's shop key → the Shopify shop to write to (None: none is set up).
    #: E-mail orders are keyed by the mailbox that received them.
    shop_of: Callable[[str], str | None] = lambda shop: shop
    #: Why nothing is written to this Shopify shop any more (``app/uninstalled``), or None.
    disconnected: Callable[[str], str | None] = lambda shop: None
    #: ``app/uninstalled`` of (shop, when): forget its installation and switch its outbound
    #: sync off; False when there was nothing to disconnect (never installed, reinstalled).
    uninstall: Callable[[str, datetime], bool] = lambda shop, at: False
    #: ``PRIVACY_DIGEST_KEY``: record ids are logged as ``logs.keyed`` digests under it.
    log_key: str = ""


@dataclass
class Outcome:
    entity: str
    record_id: str
    status: str  # synced | skipped | failed | waiting
    reason: str
    shopify_id: str | None = None
    shopify_name: str | None = None
    error_code: str | None = None


@dataclass
class Result:
    outcomes: list[Outcome] = field(default_factory=list)

    def status(self, entity: str) -> str | None:
        found = [o.status for o in self.outcomes if o.entity == entity]
        return found[-1] if found else None


class _Ctx:
    """One event's run: where outcomes go."""

    def __init__(self, event: Event, deps: Deps, switches: Switches, shop: str) -> None:
        self.event, self.deps, self.switches = event, deps, switches
        self.shop, self.source = shop, event["source"]
        self.crm_shop = event["shop"]
        #: The CRM's shop key when it is not the Shopify shop (a mailbox): part of the
        #: link key and the sourceIdentifier.
        self.crm_key = plan.crm_shop_of(event, shop)
        self.result = Result()

    def link(self, kind: str, record_id: str) -> str:
        return link_key(self.shop, kind, self.source, record_id, self.crm_key)

    def search(self, order_id: str) -> str:
        return markers.search_query(self.source, order_id, self.crm_key)

    def record(self, outcome: Outcome, attempt: int | None = None) -> None:
        self.result.outcomes.append(outcome)
        at = self.deps.now()
        # A final outcome of one event collapses on redelivery; waiting rows are all kept.
        unique = version_of(at) if outcome.status == "waiting" else ""
        row = {
            "log_id": stable_id(
                self.shop,
                DIRECTION,
                outcome.entity,
                self.source,
                outcome.record_id,
                self.event["event_id"],
                outcome.status,
                unique,
            ),
            "shop": self.shop,
            "crm_shop": self.crm_shop,
            "direction": DIRECTION,
            "entity": outcome.entity,
            "source": self.source,
            "record_id": outcome.record_id,
            "event_id": self.event["event_id"],
            "status": outcome.status,
            "shopify_id": outcome.shopify_id,
            "shopify_name": outcome.shopify_name,
            "reason": outcome.reason,
            "error_code": outcome.error_code,
            "attempt": attempt,
            "attempted_at": at,
        }
        self.deps.log.record(row)
        log = logs.error if outcome.status == "failed" else logs.info
        log(
            f"shopify_sync {outcome.status}",
            shop=self.shop,
            entity=outcome.entity,
            source=self.source,
            record_id=logs.keyed(outcome.record_id, self.deps.log_key),  # may be a phone
            event_id=self.event["event_id"],
            reason=outcome.reason,
            code=outcome.error_code,
        )

    def alert(self, outcome: Outcome) -> None:
        """Tell the managers once about a record that could not be written."""
        alert_id = stable_id(
            "shopify_sync", self.shop, outcome.entity, self.source, outcome.record_id
        )
        what = {
            "order": "order",
            "order_cancel": "cancellation",
            "customer": "customer",
            "product": "product",
        }
        entity = {
            "reason": f"Not written to Shopify: {outcome.reason}",
            "kind": "shopify_sync",
            "topic": f"{what.get(outcome.entity, outcome.entity)} {outcome.record_id}",
            "ref": outcome.record_id,
        }
        self.deps.alerts.publish(
            make_event(
                event_type="payload.quarantined",
                source=self.source,
                shop=self.crm_shop,
                occurred_at=self.deps.now(),
                version=0,
                entity_id=alert_id,
                entity=entity,
                id_parts=("shopify_sync",),
            )
        )

    def fail(self, outcome: Outcome) -> None:
        self.record(outcome)
        self.alert(outcome)


def _refusal(error: Refused, what: str, record_id: str) -> Outcome:
    code = sorted(error.codes)[0] if error.codes else None
    return Outcome(what, record_id, "failed", f"Shopify refused it: {error}", error_code=code)


def _refused(deps: Deps, ctx: _Ctx, key: str, error: Refused, what: str, record_id: str) -> None:
    """Shopify refused a write: release its claim for a later retry and record why."""
    deps.links.finish(key, "retrying", {"error": str(error)}, now=deps.now())
    ctx.fail(_refusal(error, what, record_id))


def handle(event: Event, deps: Deps) -> Result | None:
    """Write what the event calls for; ``None`` when it is nothing of ours."""
    if event["event_type"] == "shop.uninstalled":
        return disconnect_shop(event, deps)
    if event["source"] == "shopify" or event["source"] == "pubsub":
        return None
    kind = event["event_type"]
    if kind == "order.action":
        return carry_action(event, deps)
    if kind == "customer.deleted" and event["source"] == "manual":
        return forget_customer(event, deps)
    if kind not in (*plan.ORDER_TYPES, "customer.upserted", "product.upserted", "product.deleted"):
        return None
    shop = deps.shop_of(event["shop"])
    if shop is None:
        ctx = _Ctx(event, deps, Switches(), event["shop"])
        reason = f"no Shopify shop is set up for {event['shop']} (SHOPIFY_ADMIN_TOKENS)"
        ctx.record(Outcome(event["entity_type"], event["entity_id"], "skipped", reason))
        return ctx.result
    gone = deps.disconnected(shop)
    if gone:
        ctx = _Ctx(event, deps, Switches(), shop)
        ctx.record(Outcome(event["entity_type"], event["entity_id"], "skipped", gone))
        return ctx.result
    ctx = _Ctx(event, deps, deps.switches(shop), shop)
    if kind == "customer.upserted" and event["source"] == "manual":
        crm_wish = plan.crm_customer_wish(event["entity"])
        if crm_wish is not None:
            sync_crm_customer(ctx, crm_wish, event["entity"])
        return ctx.result
    if kind in ("product.upserted", "product.deleted"):
        from orderhub.shopify_sync.products import delete_product, sync_product

        (sync_product if kind == "product.upserted" else delete_product)(ctx)
        return ctx.result
    if kind == "customer.upserted":
        entity = event["entity"]
        wish = plan.customer_wish(entity, entity.get("tags"))
        if wish is not None:
            sync_customer(ctx, wish, entity)
        return ctx.result
    order = event["entity"]
    if order.get("shopify_order_id"):
        _confirm_link(ctx, order)
        return ctx.result
    if kind == "order.cancelled" or order.get("cancelled_at"):
        cancel_order(ctx)
        return ctx.result
    push_order(ctx)
    return ctx.result


def _order_id(event: Event) -> str:
    return str(event["entity"].get("order_id") or event["entity_id"])


def _confirm_link(ctx: _Ctx, order: dict[str, Any]) -> None:
    """Shopify's echo of an order we wrote: record the link if our own record is missing
    or not final yet. The echo is Shopify's own word that the order exists, so it also
    settles a create whose answer was lost (a timeout): the claim is finished even while
    that delivery still holds it, and no redelivery creates a second order."""
    order_id = _order_id(ctx.event)
    key = ctx.link("order", order_id)
    gid = f"gid://shopify/Order/{order['shopify_order_id']}"
    claim = ctx.deps.links.begin(key, {"shop": ctx.shop}, now=ctx.deps.now(), lease=ctx.deps.lease)
    if claim.kind == "done":
        return
    uncertain = bool(claim.record.get("uncertain"))
    ctx.deps.links.finish(
        key,
        "sent",
        {"shopify_id": gid, "shopify_name": order.get("shopify_order_name"), "uncertain": False},
        now=ctx.deps.now(),
    )
    reason = (
        "created in Shopify: confirmed by Shopify's webhook after our request got no answer"
        if uncertain
        else "link recorded from Shopify's webhook"
    )
    ctx.record(
        Outcome("order", order_id, "synced", reason, gid, order.get("shopify_order_name")),
        claim.attempt,
    )


class _Uncertain(TransientError):
    """``orderCreate`` was sent and no answer came back: Shopify may have created it."""


def _found(ctx: _Ctx, key: str, found: Any, attempt: int | None, reason: str) -> None:
    ctx.deps.links.finish(
        key,
        "sent",
        {"shopify_id": found.id, "shopify_name": found.name, "uncertain": False},
        now=ctx.deps.now(),
    )
    order_id = _order_id(ctx.event)
    ctx.record(Outcome("order", order_id, "synced", reason, found.id, found.name), attempt)
    if ctx.event["event_type"] == "order.updated":
        # A CRM edit that arrived while the create was uncertain: the order Shopify holds
        # may be an older version, so the edit is sent now (only what differs), not dropped.
        update_order(ctx, key, {"shopify_id": found.id, "crm_version": 0})


def _still_uncertain(ctx: _Ctx, key: str, claim: Any) -> None:
    """A delivery that finds a create whose outcome is unknown: look, never create."""
    order_id = _order_id(ctx.event)
    try:
        found = ctx.deps.writer(ctx.shop).find_order(ctx.search(order_id))
    except TransientError:
        found = None
    if found is not None:
        _found(ctx, key, found, claim.attempt, "found in Shopify (written by an earlier attempt)")
        return
    until = claim.record.get("busy_until")
    left = (until - ctx.deps.now()).total_seconds() if isinstance(until, datetime) else 0.0
    ctx.record(
        Outcome(
            "order",
            order_id,
            "waiting",
            "Shopify's answer to our create was lost; not created again until Shopify's"
            f" webhook or search shows whether it exists (up to {max(left, 0):.0f} s more)",
            error_code="UNCERTAIN",
        )
    )
    raise TransientError(f"order {order_id}: the outcome of its create is not known yet")


def push_order(ctx: _Ctx) -> None:
    event, deps = ctx.event, ctx.deps
    order_id = _order_id(event)
    skip = plan.order_skip_reason(event, ctx.switches)
    key = ctx.link("order", order_id)
    if skip:
        ctx.record(Outcome("order", order_id, "skipped", skip))
        return
    claim = deps.links.begin(
        key,
        {"shop": ctx.shop, "crm_shop": ctx.crm_shop, "source": ctx.source, "order_id": order_id},
        now=deps.now(),
        lease=deps.lease,
    )
    if claim.kind == "done":
        if event["event_type"] == "order.updated" and claim.record.get("shopify_id"):
            update_order(ctx, key, claim.record)  # a CRM edit of an order already in Shopify
        return  # else a redelivery: already in Shopify, nothing to send
    if claim.kind == "busy":
        if claim.record.get("uncertain"):
            _still_uncertain(ctx, key, claim)
            return
        ctx.record(Outcome("order", order_id, "waiting", "another delivery is writing this order"))
        raise TransientError(f"order {order_id} is being written by another delivery")
    writer = deps.writer(ctx.shop)
    try:
        found = writer.find_order(ctx.search(order_id))
        if found is not None:
            reason = "found in Shopify (written by an earlier attempt)"
            _found(ctx, key, found, claim.attempt, reason)
            return
        customer_id = None
        wish = plan.customer_wish(event["entity"].get("customer"), ())
        if wish is not None:
            customer_id = sync_customer(ctx, wish, event["entity"].get("customer") or {})
        variants = writer.variants_by_sku(
            [str(i.get("sku")) for i in event["entity"].get("line_items") or [] if i.get("sku")]
        )
        order_plan = plan.order_create_input(
            event,
            variants=variants,
            switches=ctx.switches,
            customer_id=customer_id,
            shop=ctx.shop,
        )
        pause = deps.rate.slot(
            ctx.shop, ctx.switches.orders_per_minute, deps.now(), deps.max_rate_wait
        )
        if pause > 0:
            deps.sleep(pause)
        try:
            created = writer.order_create(order_plan.order, order_plan.options)
        except TransientError as exc:
            if "throttl" in str(exc).lower():
                raise  # refused before it ran: nothing was created
            raise _Uncertain(str(exc)) from exc
    except Refused as refused:
        _refused(deps, ctx, key, refused, "order", order_id)
        return
    except RateWait as wait:
        deps.links.finish(key, "retrying", {"error": str(wait)}, now=deps.now())
        ctx.record(
            Outcome(
                "order",
                order_id,
                "waiting",
                f"waiting for Shopify's order rate ({ctx.switches.orders_per_minute:g} a minute)",
                error_code="RATE",
            )
        )
        raise
    except ConfigError as exc:
        # 401/403/404: the token, its scopes or the shop are wrong; fixed by an operator.
        deps.links.finish(key, "retrying", {"error": str(exc)}, now=deps.now())
        ctx.record(Outcome("order", order_id, "waiting", f"Shopify refused our access: {exc}"))
        raise
    except _Uncertain as exc:
        # Sent, no answer: Shopify may have created it, and its search index lags. The claim
        # stays ``sending`` for ``settle`` (longer than the lag); meanwhile Shopify's echo
        # webhook confirms the link, and redeliveries only look, never create.
        settled = deps.links.get(key) or {}
        if settled.get("state") == "sent":
            # Shopify's echo came while we waited for the answer and recorded the link
            # (``_confirm_link``): the create is settled, not uncertain; keep its word.
            ctx.record(
                Outcome(
                    "order",
                    order_id,
                    "synced",
                    "created in Shopify: confirmed by Shopify's webhook, which came before"
                    " the answer to our request (lost)",
                    settled.get("shopify_id"),
                    settled.get("shopify_name"),
                ),
                claim.attempt,
            )
            return
        until = deps.now() + deps.settle
        fields = {"error": str(exc), "uncertain": True, "busy_until": until}
        deps.links.finish(key, "sending", fields, now=deps.now())
        ctx.record(
            Outcome(
                "order",
                order_id,
                "waiting",
                f"Shopify did not answer our create ({exc}); waiting for its webhook or search"
                f" before trying again (up to {deps.settle.total_seconds():.0f} s)",
                error_code="UNCERTAIN",
            )
        )
        raise
    except TransientError as exc:
        # Not sent, or refused before it ran (throttled): the next attempt looks it up first.
        deps.links.finish(key, "retrying", {"error": str(exc)}, now=deps.now())
        throttled = "throttl" in str(exc).lower()
        reason = (
            "Shopify throttled, retrying" if throttled else f"Shopify unreachable, retrying ({exc})"
        )
        ctx.record(
            Outcome(
                "order", order_id, "waiting", reason, error_code="THROTTLED" if throttled else None
            )
        )
        raise
    deps.links.finish(
        key,
        "sent",
        {
            "shopify_id": created.id,
            "shopify_name": created.name,
            "crm_version": int(event["version"]),
            "uncertain": False,
        },
        now=deps.now(),
    )
    reason = "created in Shopify"
    if order_plan.notes:
        reason += "; " + "; ".join(order_plan.notes)
    ctx.record(
        Outcome("order", order_id, "synced", reason, created.id, created.name), claim.attempt
    )


def update_order(ctx: _Ctx, key: str, link: dict[str, Any]) -> None:
    """Send a CRM edit (note, tags, paid) to the Shopify order written for it.

    No loop and no stale overwrite: a version not newer than the last one sent is skipped
    (``crm_version`` on the link); what Shopify already holds is not sent again; Shopify's
    ``orders/updated`` for our write comes back as the CRM order's echo (it carries
    ``shopify_order_id``), which only confirms the link."""
    event, deps = ctx.event, ctx.deps
    order_id = _order_id(event)
    shopify_id = str(link["shopify_id"])
    version = int(event["version"])
    sent_version = int(link.get("crm_version") or 0)
    if version <= sent_version:
        ctx.record(
            Outcome(
                "order_update",
                order_id,
                "skipped",
                f"an older version of the CRM order (Shopify has version {sent_version})",
                shopify_id,
            )
        )
        return
    writer = deps.writer(ctx.shop)
    try:
        current = writer.find_order(ctx.search(order_id))
        if current is None:
            raise TransientError("the order is not found in Shopify's search yet")
        update = plan.order_update_input(event, current)
        done: list[str] = []
        if update.fields:
            writer.order_update(shopify_id, update.fields)
            done += sorted(update.fields)
        if update.mark_paid:
            writer.order_mark_as_paid(shopify_id)
            done.append("marked paid")
    except Refused as refused:
        ctx.fail(_refusal(refused, "order_update", order_id))
        return
    except TransientError as exc:
        ctx.record(
            Outcome("order_update", order_id, "waiting", f"Shopify unreachable, retrying ({exc})")
        )
        raise
    deps.links.finish(key, "sent", {"crm_version": version}, now=deps.now())
    reason = f"updated in Shopify: {', '.join(done)}" if done else "Shopify already holds this"
    if update.notes:
        reason += "; " + "; ".join(update.notes)
    ctx.record(
        Outcome(
            "order_update",
            order_id,
            "synced" if done else "skipped",
            reason,
            shopify_id,
            current.name,
        )
    )


def cancel_order(ctx: _Ctx) -> None:
    event, deps = ctx.event, ctx.deps
    order_id = _order_id(event)
    if not ctx.switches.outbound_orders or not ctx.switches.source_on(ctx.source):
        ctx.record(
            Outcome(
                "order_cancel",
                order_id,
                "skipped",
                plan.order_skip_reason(event, ctx.switches) or "switched off",
            )
        )
        return
    link = deps.links.get(ctx.link("order", order_id))
    shopify_id = (link or {}).get("shopify_id") if (link or {}).get("state") == "sent" else None
    if not shopify_id:
        ctx.record(
            Outcome(
                "order_cancel",
                order_id,
                "skipped",
                "the order is not in Shopify, nothing to cancel",
            )
        )
        return
    key = ctx.link("order_cancel", order_id)
    claim = deps.links.begin(
        key, {"shop": ctx.shop, "shopify_id": shopify_id}, now=deps.now(), lease=deps.lease
    )
    if claim.kind == "done":
        return
    if claim.kind == "busy":
        raise TransientError(f"cancellation of {order_id} is being written by another delivery")
    writer = deps.writer(ctx.shop)
    try:
        found = writer.find_order(ctx.search(order_id))
        if found is None or not found.cancelled:
            reason = str(event["entity"].get("cancel_reason") or "other").upper()
            if reason not in ("CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "STAFF", "OTHER"):
                reason = "OTHER"
            writer.order_cancel(
                shopify_id, reason=reason, restock=True, note="cancelled in the CRM"
            )
    except Refused as refused:
        _refused(deps, ctx, key, refused, "order_cancel", order_id)
        return
    except TransientError as exc:
        deps.links.finish(key, "retrying", {"error": str(exc)}, now=deps.now())
        ctx.record(
            Outcome(
                "order_cancel",
                order_id,
                "waiting",
                f"Shopify unreachable or throttled, retrying ({exc})",
            )
        )
        raise
    deps.links.finish(key, "sent", {"shopify_id": shopify_id}, now=deps.now())
    ctx.record(
        Outcome(
            "order_cancel", order_id, "synced", "cancelled in Shopify (stock restocked)", shopify_id
        ),
        claim.attempt,
    )


# ------------------------------------------------------------ a manager's actions
def disconnect_shop(event: Event, deps: Deps) -> Result:
    """``app/uninstalled``: the shop's installation is disconnected and its outbound sync
    switched off, so no later order is sent (``sync_status`` says why). Idempotent: a
    redelivery finds it disconnected already."""
    shop = event["shop"].lower()
    at = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    done = deps.uninstall(shop, at)
    ctx = _Ctx(event, deps, Switches(), shop)
    reason = "the app was uninstalled: shop disconnected, outbound sync off"
    if not done:
        reason = "the app was uninstalled, but the shop is not installed here (or was again)"
    ctx.record(Outcome("shop", shop, "synced" if done else "skipped", reason))
    return ctx.result


def carry_action(event: Event, deps: Deps) -> Result | None:
    """A manager's action (``order.action``) on an order that is in Shopify: shipped → a
    fulfilment of its open fulfilment orders with the tracking info (Shopify e-mails the
    customer), paid → ``orderMarkAsPaid``, cancelled → ``orderCancel``, an edit of the
    address and note → ``orderUpdate``, an edit of items → Shopify's order editing
    (``items``); ``None`` for actions Shopify has no place for (comments, the other steps).

    The order is in Shopify when it came from there (its id is Shopify's) or when this sync
    wrote it (the link). A CRM order follows its outbound switches, as its creation did; a
    Shopify order is Shopify's own and always gets the manager's action. Each action is
    written once (a claim per action id); what Shopify already holds is not sent again.
    Shopify's webhooks for the change come back as the order's own versions, and the
    notifier's once-per-order announcements keep the managers from being told twice."""
    action = event["entity"]
    what = plan.action_write(action)
    if what is None:
        return None
    source, order_id = str(action["order_source"]), str(action["order_id"])
    shop = deps.shop_of(event["shop"])
    entity = f"order_{what}"
    if shop is None:
        ctx = _Ctx(event, deps, Switches(), event["shop"])
        reason = f"no Shopify shop is set up for {event['shop']} (SHOPIFY_ADMIN_TOKENS)"
        ctx.record(Outcome(entity, order_id, "skipped", reason))
        return ctx.result
    gone = deps.disconnected(shop)
    if gone:
        ctx = _Ctx(event, deps, Switches(), shop)
        ctx.record(Outcome(entity, order_id, "skipped", gone))
        return ctx.result
    ctx = _Ctx(event, deps, deps.switches(shop), shop)
    ctx.source = source
    if source == "shopify":
        shopify_id: str | None = f"gid://shopify/Order/{order_id}"
    else:
        skip = plan.order_skip_reason({**event, "source": source}, ctx.switches)
        if skip:
            ctx.record(Outcome(entity, order_id, "skipped", skip))
            return ctx.result
        link = deps.links.get(link_key(shop, "order", source, order_id)) or {}
        shopify_id = link.get("shopify_id") if link.get("state") == "sent" else None
    if not shopify_id:
        ctx.record(Outcome(entity, order_id, "skipped", "the order is not in Shopify"))
        return ctx.result
    key = link_key(shop, entity, "manual", str(action["action_id"]))
    claim = deps.links.begin(
        key, {"shop": shop, "shopify_id": shopify_id}, now=deps.now(), lease=deps.lease
    )
    if claim.kind == "done":
        return ctx.result
    if claim.kind == "busy":
        raise TransientError(f"action {action['action_id']} is being written by another delivery")
    writer = deps.writer(shop)
    try:
        current = writer.order_fulfilment(shopify_id)
        if current is None:
            raise Refused(what, [UserError("the order is not found in Shopify")])
        reason, written = _write_action(writer, what, action, current, ctx.switches)
    except Refused as refused:
        _refused(deps, ctx, key, refused, entity, order_id)
        return ctx.result
    except TransientError as exc:
        deps.links.finish(key, "retrying", {"error": str(exc)}, now=deps.now())
        ctx.record(
            Outcome(entity, order_id, "waiting", f"Shopify unreachable or throttled ({exc})")
        )
        raise
    deps.links.finish(key, "sent", {"shopify_id": shopify_id, "result": written}, now=deps.now())
    status = "synced" if written else "skipped"
    ctx.record(Outcome(entity, order_id, status, reason, shopify_id, current.name), claim.attempt)
    return ctx.result


def _write_action(
    writer: ShopifyWriter,
    what: str,
    action: dict[str, Any],
    current: OrderFulfilment,
    switches: Switches,
) -> tuple[str, str | None]:
    """Write one action; (the reason in words, what was written or ``None``)."""
    if current.cancelled:
        return "the order is cancelled in Shopify: nothing to change", None
    if what == "cancel":
        reason = plan.cancel_reason(action.get("cancel_reason"))
        writer.order_cancel(current.id, reason=reason, restock=True, note="cancelled in the CRM")
        return "cancelled in Shopify (stock restocked)", "cancelled"
    if what == "items":
        return items.write_items(writer, current.id, action)
    if what == "edit":
        fields = plan.edit_input(action)
        writer.order_update(current.id, fields)
        said = "shipping address and note" if "shippingAddress" in fields else "note"
        return f"{said} changed in Shopify", "edited"
    if what == "paid":
        if str(current.financial_status or "").upper() in plan.PAID_IN_SHOPIFY:
            return "Shopify already holds it as paid", None
        writer.order_mark_as_paid(current.id)
        return "marked paid in Shopify", "paid"
    if not current.open_fulfilment_orders:
        return "nothing left to fulfil in Shopify", None
    fulfilment = writer.fulfillment_create(
        current.open_fulfilment_orders,
        tracking_number=action.get("tracking_number"),
        tracking_company=action.get("tracking_company"),
        notify_customer=True,
    )
    tracking = " ".join(
        str(action[k]) for k in ("tracking_company", "tracking_number") if action.get(k)
    )
    return f"fulfilled in Shopify{' with ' + tracking if tracking else ''}", fulfilment


# -------------------------------------------------------------------- customers
def _search(wish: plan.CustomerWish) -> str:
    return quoted("email", wish.email) if wish.email else quoted("phone", str(wish.phone))


def sync_customer(ctx: _Ctx, wish: plan.CustomerWish, party: dict[str, Any]) -> str | None:
    """Upsert the customer (and consent); their Shopify id, or None if not written."""
    decisions = {c: party.get(f"{c}_marketing_consent") for c in ("email", "sms")}
    consented = any(
        str((d or {}).get("state") or "").lower() == "subscribed" for d in decisions.values()
    )
    skip = plan.customer_skip_reason(wish, ctx.switches, consented)
    if skip:
        ctx.record(Outcome("customer", wish.record_id, "skipped", skip))
        return None
    writer = ctx.deps.writer(ctx.shop)
    current = writer.find_customer(_search(wish))
    if current is not None and plan.protects_existing(ctx.source):
        return _attach_only(ctx, wish, current)
    customer: ShopifyCustomer | None = current
    if current is not None and plan.customer_unchanged(current, wish):
        pass  # a write that changes nothing is never sent
    else:
        identifier = plan.customer_identifier(wish)
        try:
            customer = writer.customer_set(identifier, plan.customer_set_input(wish))
            ctx.record(
                Outcome(
                    "customer",
                    wish.record_id,
                    "synced",
                    "updated in Shopify" if current else "created in Shopify",
                    customer.id,
                )
            )
        except Refused as refused:
            if "TAKEN" not in refused.codes:
                outcome = _refusal(refused, "customer", wish.record_id)
                ctx.fail(outcome)
                return None
            customer = _merge_taken(ctx, wish, refused)
            if customer is None:
                return None
    if customer is not None and ctx.switches.outbound_consent:
        for channel, decision in decisions.items():
            current_consent = customer.email_consent if channel == "email" else customer.sms_consent
            wanted = plan.consent_to_send(decision, current_consent)
            if wanted is None:
                continue
            entity = f"{channel}_consent"
            try:
                writer.consent_update(channel, customer.id, wanted)
            except Refused as refused:
                outcome = _refusal(refused, entity, wish.record_id)
                ctx.record(outcome)
                continue
            ctx.record(
                Outcome(
                    entity,
                    wish.record_id,
                    "synced",
                    f"{wanted['marketingState'].lower()} as of {wanted['consentUpdatedAt']}",
                    customer.id,
                )
            )
    return customer.id if customer else None


def _contact_words(wish: plan.CustomerWish, other: ShopifyCustomer) -> str:
    if wish.email and other.email and plan._same(wish.email, other.email):
        return f"e-mail {wish.email}"
    return f"phone {wish.phone}" if wish.phone else f"e-mail {wish.email}"


def _attach_only(ctx: _Ctx, wish: plan.CustomerWish, other: ShopifyCustomer) -> str | None:
    """A customer from e-mail or chat whose contact an existing Shopify customer holds:
    that customer is never changed. The order is attached to them only when the name
    matches too; otherwise it goes without a customer, and ``sync_status`` says why."""
    owner = other.id.rsplit("/", 1)[-1]
    what = _contact_words(wish, other)
    if plan.may_merge(other, wish):
        ctx.record(
            Outcome(
                "customer",
                wish.record_id,
                "synced",
                f"order attached to existing customer {owner} (same name and {what});"
                " the customer was not changed",
                other.id,
            )
        )
        return other.id
    ctx.record(
        Outcome(
            "customer",
            wish.record_id,
            "skipped",
            f"{what} belongs to existing customer {owner} under another name: not changed,"
            f" and the order was sent without a customer ({plan.source_label(ctx.source)}"
            " never overwrites a Shopify customer)",
            other.id,
            error_code="NOT_ATTACHED",
        )
    )
    return None


def _merge_taken(ctx: _Ctx, wish: plan.CustomerWish, refused: Refused) -> ShopifyCustomer | None:
    writer = ctx.deps.writer(ctx.shop)
    taken_fields = {f for e in refused.errors if e.code == "TAKEN" for f in e.field}
    by_phone = (
        "phone" in taken_fields or (wish.phone and not wish.email) or not taken_fields - {"email"}
    )
    if by_phone and wish.phone:
        what, value = "phone", wish.phone
    else:
        what, value = "e-mail", str(wish.email)
    other = writer.find_customer(quoted("phone" if what == "phone" else "email", value))
    if other is not None and plan.protects_existing(ctx.source):
        attached = _attach_only(ctx, wish, other)
        return other if attached else None
    if other is not None and plan.may_merge(other, wish):
        merged = writer.customer_set(
            {"id": other.id},
            {
                k: v
                for k, v in plan.customer_set_input(wish).items()
                if k != ("phone" if what == "phone" else "email")
            },
        )
        ctx.record(
            Outcome(
                "customer",
                wish.record_id,
                "synced",
                f"merged into customer {other.id.rsplit('/', 1)[-1]} (same name and {what})",
                merged.id,
            )
        )
        return merged
    owner = other.id.rsplit("/", 1)[-1] if other else "another customer"
    ctx.fail(
        Outcome(
            "customer",
            wish.record_id,
            "failed",
            f"{what} {value} already belongs to customer {owner}"
            " (another name or contact): not merged",
            other.id if other else None,
            error_code="TAKEN",
        )
    )
    return None


# ---------------------------------------------------- customers edited in the CRM app
def _totals_words(wish: plan.CustomerWish) -> str:
    totals = [
        t.removeprefix(plan.TOTALS_PREFIX)
        for t in wish.send_tags or ()
        if t.startswith(plan.TOTALS_PREFIX)
    ]
    return ", ".join(totals)


def sync_crm_customer(ctx: _Ctx, wish: plan.CustomerWish, entity: dict[str, Any]) -> str | None:
    """A customer edited in the CRM app (or sent again with "Send to Shopify now"): the
    CRM's record is the truth, so ``customerSet`` writes its name, contacts, note, tags and
    the totals tags (order count and spend across every source), and the address when the
    Shopify customer holds no other. Nothing is sent when Shopify already holds all of it;
    the link (CRM customer id → Shopify id) is kept in ``shopify_links``."""
    record_id = wish.record_id
    other_shop = str(entity.get("shopify_shop") or "")
    if other_shop and other_shop != ctx.shop:
        ctx.record(
            Outcome(
                "customer",
                record_id,
                "skipped",
                f"this customer is a record of the shop {other_shop}, not of {ctx.shop}: not sent",
                error_code="OTHER_SHOP",
            )
        )
        return None
    skip = plan.customer_skip_reason(wish, ctx.switches, consented=_consented(entity))
    if skip:
        ctx.record(Outcome("customer", record_id, "skipped", skip))
        return None
    missing = plan.address_missing(entity.get("default_address"))
    if missing:
        ctx.fail(
            Outcome(
                "customer",
                record_id,
                "failed",
                "the address lacks " + " and ".join(missing) + ": not sent",
                error_code="ADDRESS",
            )
        )
        return None
    writer = ctx.deps.writer(ctx.shop)
    current = writer.find_customer(_search(wish))
    key = link_key(ctx.shop, "customer", ctx.source, str(entity.get("customer_id") or record_id))
    if current is not None and plan.customer_unchanged(current, wish):
        _keep_link(ctx, key, current.id)
        ctx.record(
            Outcome("customer", record_id, "skipped", "Shopify already holds this", current.id)
        )
        return current.id
    with_address = current is None or current.addresses <= 1
    notes = []
    if wish.address and not with_address:
        notes.append(
            "address kept in the CRM only: the Shopify customer has several addresses,"
            " which customerSet would replace"
        )
    try:
        customer = writer.customer_set(
            plan.customer_identifier(wish), plan.customer_set_input(wish, with_address=with_address)
        )
    except Refused as refused:
        if "TAKEN" in refused.codes:
            merged = _merge_taken(ctx, wish, refused)
            if merged is not None:
                _keep_link(ctx, key, merged.id)
            return merged.id if merged else None
        fields = {f for e in refused.errors for f in e.field}
        words = plan.refusal_words(refused.codes, fields, wish, str(refused))
        code = sorted(refused.codes)[0] if refused.codes else None
        ctx.fail(Outcome("customer", record_id, "failed", words, error_code=code))
        return None
    _keep_link(ctx, key, customer.id)
    done = "updated in Shopify" if current else "created in Shopify"
    reason = f"{done} with its tags and totals ({_totals_words(wish)})"
    ctx.record(Outcome("customer", record_id, "synced", "; ".join([reason, *notes]), customer.id))
    return customer.id


def _consented(entity: dict[str, Any]) -> bool:
    return any(
        str((entity.get(f"{c}_marketing_consent") or {}).get("state") or "").lower() == "subscribed"
        for c in ("email", "sms")
    )


def _keep_link(ctx: _Ctx, key: str, shopify_id: str) -> None:
    """The CRM customer's link to its Shopify customer (``customerSet`` is an upsert, so
    no claim guards it: the link is a record, not a lock)."""
    links = ctx.deps.links
    links.begin(
        key, {"shop": ctx.shop, "kind": "customer"}, now=ctx.deps.now(), lease=ctx.deps.lease
    )
    links.finish(key, "sent", {"shopify_id": shopify_id}, now=ctx.deps.now())


def forget_customer(event: Event, deps: Deps) -> Result:
    """A customer deleted in the CRM app: its sync link goes; the Shopify customer stays
    unless the owner ticked "also delete in Shopify" (``delete_in_shopify``), and Shopify
    refuses that for a customer with orders (``sync_status`` says so)."""
    shop = deps.shop_of(event["shop"]) or event["shop"]
    ctx = _Ctx(event, deps, Switches(), shop)
    entity = event["entity"]
    wish = plan.customer_wish(entity)
    record_id = wish.record_id if wish else event["entity_id"]
    key = link_key(shop, "customer", "manual", str(entity.get("customer_id") or record_id))
    link = deps.links.get(key)
    kept = (link or {}).get("shopify_id")
    number = str(kept).rsplit("/", 1)[-1]
    if kept and entity.get("delete_in_shopify"):  # the owner ticked "also delete in Shopify"
        try:
            deps.writer(shop).customer_delete(str(kept))
        except Refused as refused:
            ctx.fail(
                Outcome(
                    "customer",
                    record_id,
                    "failed",
                    f"deleted in the CRM; Shopify kept customer {number}: {refused}",
                    kept,
                    error_code="NOT_DELETED",
                )
            )
            deps.links.forget(key)
            return ctx.result
        deps.links.forget(key)
        reason = f"deleted in the CRM and in Shopify (customer {number}), as the owner asked"
        ctx.record(Outcome("customer", record_id, "synced", reason, kept, error_code="DELETED"))
        return ctx.result
    deps.links.forget(key)
    reason = (
        f"deleted in the CRM: the link to Shopify customer {number} is removed;"
        " the Shopify customer is kept"
        if kept
        else "deleted in the CRM; it had no link to a Shopify customer"
    )
    ctx.record(Outcome("customer", record_id, "skipped", reason, kept, error_code="DELETED"))
    return ctx.result
