-- One row per order: its newest version, with refunds summed and one status word.
-- Equal versions (two webhooks with the same updated_at) are told apart by kind
-- (cancelled, then updated, then created), then by Shopify's trigger time
-- (X-Shopify-Triggered-At, kept in raw_events.meta), the later winning.
WITH triggers AS (
  SELECT raw_id, MAX(JSON_VALUE(meta.triggered_at)) AS triggered_at
  FROM `${project}.${dataset}.raw_events`
  GROUP BY raw_id
),
latest AS (
  SELECT e.*
  FROM `${project}.${dataset}.order_events` AS e
  LEFT JOIN triggers ON triggers.raw_id = e.raw_id
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY e.source, e.shop, e.order_id
    ORDER BY
      e.version DESC,
      CASE e.event_type WHEN 'order.cancelled' THEN 0 WHEN 'order.updated' THEN 1 ELSE 2 END,
      COALESCE(triggers.triggered_at, '') DESC,
      e.event_id
  ) = 1
),
refunds AS (
  SELECT shop, order_id, SUM(amount) AS refunded, COUNT(*) AS refund_count
  FROM (
    SELECT shop, order_id, amount
    FROM `${project}.${dataset}.refund_events`
    WHERE TRUE
    QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, refund_id ORDER BY version DESC) = 1
  )
  GROUP BY shop, order_id
)
SELECT
  latest.order_id,
  latest.source,
  latest.shop,
  latest.name,
  latest.number,
  latest.external_ref,
  latest.created_at,
  latest.occurred_at AS updated_at,
  latest.version,
  CASE
    WHEN latest.cancelled_at IS NOT NULL THEN 'cancelled'
    WHEN refunds.refunded >= latest.total AND latest.total > 0 THEN 'refunded'
    WHEN refunds.refunded > 0 THEN 'partially_refunded'
    ELSE COALESCE(latest.financial_status, 'open')
  END AS status,
  latest.financial_status,
  latest.fulfillment_status,
  latest.cancelled_at,
  latest.cancel_reason,
  latest.currency,
  latest.presentment_currency,
  latest.subtotal,
  latest.tax,
  latest.discounts,
  latest.shipping,
  latest.total,
  latest.total_presentment,
  COALESCE(refunds.refunded, 0) AS refunded,
  latest.customer,
  latest.shipping_address,
  latest.line_items,
  latest.note,
  latest.tags,
  latest.attribution,
  latest.manager,
  latest.event_id,
  latest.raw_id
FROM latest
LEFT JOIN refunds
  ON refunds.shop = latest.shop AND refunds.order_id = latest.order_id
