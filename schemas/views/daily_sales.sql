-- Orders and money per day, source and currency; cancelled orders left out. Days are the
-- shop's calendar days (${timezone}, an IANA name: SHOP_TIME_ZONE / var.shop_time_zone).
SELECT
  DATE(created_at, '${timezone}') AS day,
  source,
  currency,
  COUNT(*) AS orders,
  SUM(total) AS gross,
  SUM(refunded) AS refunded,
  SUM(total) - SUM(refunded) AS net
FROM `${project}.${dataset}.orders`
WHERE status != 'cancelled'
GROUP BY day, source, currency
