-- The chat-bot funnel per day, source and channel (messenger, whatsapp, instagram, tiktok,
-- telegram): contacts touched, and the orders (and revenue) attributed to chat contacts (see
-- the orders view's attribution), by currency. An order counts under its contact's newest
-- channel; rows written before channels were kept are Messenger's.
WITH touched AS (
  SELECT day, source, channel, COUNT(DISTINCT contact_id) AS contacts_touched
  FROM (
    SELECT
      DATE(occurred_at) AS day,
      COALESCE(touch_source, '(none)') AS source,
      COALESCE(channel, 'messenger') AS channel,
      contact_id
    FROM `${project}.${dataset}.contact_events`
  )
  GROUP BY day, source, channel
),
channels AS (
  SELECT shop, contact_id, COALESCE(channel, 'messenger') AS channel
  FROM `${project}.${dataset}.contact_events`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, contact_id ORDER BY version DESC, event_id DESC) = 1
),
ordered AS (
  SELECT
    day,
    source,
    channel,
    currency,
    COUNT(*) AS orders,
    SUM(IF(status = 'cancelled', 0, 1)) AS orders_kept,
    SUM(IF(status = 'cancelled', 0, total - refunded)) AS revenue
  FROM (
    SELECT
      DATE(COALESCE(created_at, updated_at)) AS day,
      COALESCE(attribution.source, '(none)') AS source,
      COALESCE(channels.channel, 'messenger') AS channel,
      currency,
      status,
      total,
      refunded
    FROM `${project}.${dataset}.orders` AS o
    LEFT JOIN channels
      ON channels.shop = o.shop AND channels.contact_id = o.attribution.contact_id
    WHERE o.attribution.contact_id IS NOT NULL
  )
  GROUP BY day, source, channel, currency
)
-- A day, source and channel with orders in several currencies has a row per currency; its
-- contacts are counted on the first of them only, so summing the column never counts them twice.
SELECT
  COALESCE(touched.day, ordered.day) AS day,
  COALESCE(touched.source, ordered.source) AS source,
  COALESCE(touched.channel, ordered.channel) AS channel,
  IF(
    ROW_NUMBER() OVER (
      PARTITION BY
        COALESCE(touched.day, ordered.day),
        COALESCE(touched.source, ordered.source),
        COALESCE(touched.channel, ordered.channel)
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
    AND ordered.channel = touched.channel
