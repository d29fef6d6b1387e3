-- The chat-bot funnel per day and source: contacts touched, and the orders (and revenue)
-- attributed to chat contacts (see the orders view's attribution), by currency.
WITH touched AS (
  SELECT day, source, COUNT(DISTINCT contact_id) AS contacts_touched
  FROM (
    SELECT DATE(occurred_at) AS day, COALESCE(touch_source, '(none)') AS source, contact_id
    FROM `${project}.${dataset}.contact_events`
  )
  GROUP BY day, source
),
ordered AS (
  SELECT
    day,
    source,
    currency,
    COUNT(*) AS orders,
    SUM(IF(status = 'cancelled', 0, 1)) AS orders_kept,
    SUM(IF(status = 'cancelled', 0, total - refunded)) AS revenue
  FROM (
    SELECT
      DATE(COALESCE(created_at, updated_at)) AS day,
      COALESCE(attribution.source, '(none)') AS source,
      currency,
      status,
      total,
      refunded
    FROM `${project}.${dataset}.orders`
    WHERE attribution.contact_id IS NOT NULL
  )
  GROUP BY day, source, currency
)
-- A day and source with orders in several currencies has a row per currency; its contacts
-- are counted on the first of them only, so summing the column never counts them twice.
SELECT
  COALESCE(touched.day, ordered.day) AS day,
  COALESCE(touched.source, ordered.source) AS source,
  IF(
    ROW_NUMBER() OVER (
      PARTITION BY COALESCE(touched.day, ordered.day), COALESCE(touched.source, ordered.source)
      ORDER BY ordered.currency
    ) = 1,
    COALESCE(touched.contacts_touched, 0),
    0
  ) AS contacts_touched,
  ordered.currency,
  COALESCE(ordered.orders, 0) AS orders,
  COALESCE(ordered.orders_kept, 0) AS orders_kept,
  COALESCE(ordered.revenue, 0) AS revenue
FROM touched
FULL OUTER JOIN ordered
  ON ordered.day = touched.day AND ordered.source = touched.source
