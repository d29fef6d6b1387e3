-- One row per customer that exists now: newest version, deleted ones left out.
SELECT customer_id, source, shop, name, email, phone, tags, orders_count, default_address,
       occurred_at AS updated_at, version, email_marketing_consent, sms_marketing_consent
FROM `${project}.${dataset}.customer_events`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, customer_id ORDER BY version DESC, event_id) = 1
  AND COALESCE(deleted, FALSE) = FALSE
