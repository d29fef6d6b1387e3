-- One row per ManyChat contact: its newest data, first and last touch with their sources,
-- how many touches, and the shop's customer it is linked to (same phone, digit by digit
-- against the contact's E.164, or same e-mail; an unreadable phone never links). Chat
-- identity is weak evidence (issue 21): only a phone or e-mail ManyChat verified
-- (phone_verified / email_verified: its own field with the opt-in) links; a typed one
-- that matches a customer is `identity` 'unconfirmed' and links nothing, unless a manager
-- confirmed in the CRM app that the contact is the customer (contact_identities, the
-- contact's newest decision, while the contact still gives that phone or e-mail):
-- `identity` 'confirmed'. A manager's "not this customer" is 'rejected'.
WITH touches AS (
  SELECT *
  FROM `${project}.${dataset}.contact_events`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at) = 1
),
ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY shop, contact_id ORDER BY version DESC, event_id) AS newest,
    ROW_NUMBER() OVER (PARTITION BY shop, contact_id ORDER BY version, event_id) AS oldest
  FROM touches
),
stats AS (
  SELECT shop, contact_id, COUNT(DISTINCT version) AS touches,
         MIN(occurred_at) AS first_touch_at, MAX(occurred_at) AS last_touch_at
  FROM touches
  GROUP BY shop, contact_id
),
decided AS (
  SELECT shop, contact_id, decision,
         REGEXP_REPLACE(COALESCE(phone, ''), '[^0-9]', '') AS digits, LOWER(email) AS email
  FROM `${project}.${dataset}.contact_identities`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (  -- the later of two decisions from one second's pages wins
    PARTITION BY shop, contact_id ORDER BY version DESC, occurred_at DESC, event_id DESC
  ) = 1
),
trusted AS (
  SELECT
    ranked.*,
    decided.decision,
    IFNULL(ranked.phone_verified, FALSE) OR IFNULL(decided.decision = 'confirmed'
      AND decided.digits != '' AND decided.digits = REGEXP_REPLACE(ranked.phone, '[^0-9]', ''),
      FALSE) AS phone_trusted,
    IFNULL(ranked.email_verified, FALSE) OR IFNULL(decided.decision = 'confirmed'
      AND decided.email = LOWER(ranked.email), FALSE) AS email_trusted
  FROM ranked
  LEFT JOIN decided ON decided.shop = ranked.shop AND decided.contact_id = ranked.contact_id
  WHERE ranked.newest = 1
),
by_phone AS (
  SELECT shop, digits, MIN(customer_id) AS customer_id
  FROM (
    SELECT shop, customer_id, REGEXP_REPLACE(phone, '[^0-9]', '') AS digits
    FROM `${project}.${dataset}.customers`
    WHERE phone IS NOT NULL
  )
  GROUP BY shop, digits
),
by_email AS (
  SELECT shop, LOWER(email) AS email, MIN(customer_id) AS customer_id
  FROM `${project}.${dataset}.customers`
  WHERE email IS NOT NULL
  GROUP BY shop, LOWER(email)
)
SELECT
  latest.contact_id,
  latest.shop,
  latest.page_id,
  latest.name,
  latest.phone,
  latest.phone_valid,
  latest.email,
  latest.locale,
  latest.language,
  latest.ig_username,
  COALESCE(latest.channel, 'messenger') AS channel,
  latest.live_chat_url,
  latest.tags,
  latest.flags,
  first.touch_source AS first_source,
  first.campaign AS first_campaign,
  first.ad AS first_ad,
  latest.touch_source AS last_source,
  latest.campaign AS last_campaign,
  latest.ad AS last_ad,
  stats.touches,
  stats.first_touch_at,
  stats.last_touch_at,
  latest.subscribed_at,
  COALESCE(by_phone.customer_id, by_email.customer_id) AS customer_id,
  CASE
    WHEN by_phone.customer_id IS NOT NULL THEN 'phone'
    WHEN by_email.customer_id IS NOT NULL THEN 'email'
  END AS customer_match,
  CASE
    WHEN (by_phone.customer_id IS NOT NULL AND IFNULL(latest.phone_verified, FALSE))
      OR (by_email.customer_id IS NOT NULL AND IFNULL(latest.email_verified, FALSE))
      THEN 'verified'
    WHEN by_phone.customer_id IS NOT NULL OR by_email.customer_id IS NOT NULL THEN 'confirmed'
    WHEN (typed_phone.customer_id IS NOT NULL OR typed_email.customer_id IS NOT NULL)
      AND latest.decision = 'rejected'
      THEN 'rejected'
    WHEN typed_phone.customer_id IS NOT NULL OR typed_email.customer_id IS NOT NULL
      THEN 'unconfirmed'
  END AS identity,
  latest.version,
  latest.event_id
FROM trusted AS latest
JOIN ranked AS first
  ON first.shop = latest.shop AND first.contact_id = latest.contact_id AND first.oldest = 1
JOIN stats
  ON stats.shop = latest.shop AND stats.contact_id = latest.contact_id
LEFT JOIN by_phone
  ON latest.phone_valid AND latest.phone_trusted AND by_phone.shop = latest.shop
  AND by_phone.digits = REGEXP_REPLACE(latest.phone, '[^0-9]', '')
LEFT JOIN by_email
  ON latest.email_trusted AND by_email.shop = latest.shop
  AND by_email.email = LOWER(latest.email)
LEFT JOIN by_phone AS typed_phone
  ON latest.phone_valid AND typed_phone.shop = latest.shop
  AND typed_phone.digits = REGEXP_REPLACE(latest.phone, '[^0-9]', '')
LEFT JOIN by_email AS typed_email
  ON typed_email.shop = latest.shop AND typed_email.email = LOWER(latest.email)
WHERE latest.newest = 1
