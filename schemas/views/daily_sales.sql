-- Orders and money per day, source and currency; cancelled orders left out.
SELECT
  DATE(created_at) AS day,
  source,
  currency,
  COUNT(*) AS orders,
  SUM(total) AS gross,
  SUM(refunded) AS refunded,
  SUM(total) - SUM(refunded) AS net
FROM `${project}.${dataset}.orders`
WHERE status != 'cancelled'
GROUP BY day, source, currency
