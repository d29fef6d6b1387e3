-- One row per synced record and direction: its newest outcome (synced | failed | skipped |
-- waiting), the Shopify id and the reason in plain words.
SELECT shop, crm_shop, direction, entity, source, record_id, status, shopify_id, shopify_name, reason,
       error_code, event_id, attempted_at AS updated_at
FROM `${project}.${dataset}.sync_log`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY shop, direction, entity, source, record_id
  ORDER BY attempted_at DESC, log_id DESC
) = 1
