-- One row per product variant that exists now (the order form's catalogue).
WITH latest AS (
  SELECT *
  FROM `${project}.${dataset}.product_events`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, product_id ORDER BY version DESC, event_id) = 1
)
SELECT latest.product_id, latest.shop, latest.title, latest.vendor, latest.product_type,
       latest.status, latest.tags, variant.variant_id, variant.sku,
       variant.title AS variant_title, variant.price, variant.inventory_quantity,
       latest.occurred_at AS updated_at, latest.handle, latest.image_url
FROM latest, UNNEST(latest.variants) AS variant
WHERE COALESCE(latest.deleted, FALSE) = FALSE
