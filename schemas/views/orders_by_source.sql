-- Where orders come from: counts and money per source and currency, all time.
SELECT
  source,
  currency,
  COUNT(*) AS orders,
  SUM(IF(status = 'cancelled', 1, 0)) AS cancelled,
  SUM(IF(status = 'cancelled', 0, total)) AS gross,
  MIN(created_at) AS first_order_at,
  MAX(created_at) AS last_order_at
FROM `${project}.${dataset}.orders`
GROUP BY source, currency
