-- One row per line item of each order's current version.
SELECT
  o.order_id,
  o.source,
  o.shop,
  o.created_at,
  o.status,
  o.currency,
  line.line_id,
  line.product_id,
  line.variant_id,
  line.sku,
  line.title,
  line.variant_title,
  line.quantity,
  line.unit_price,
  line.total_discount,
  line.unit_price * line.quantity - COALESCE(line.total_discount, 0) AS line_total
FROM `${project}.${dataset}.orders` AS o, UNNEST(o.line_items) AS line
