-- One row per order: its newest version, with refunds summed and one status word;
-- orders deleted in Shopify (orders/delete) left out. An order the CRM wrote into Shopify
-- (shopify_sync) is one row under its CRM key: Shopify's echo, refunds and delete of its
-- Shopify order are its own.
-- Equal versions (two webhooks with the same updated_at) are told apart by kind
-- (cancelled, then updated, then created), then by Shopify's trigger time
-- (X-Shopify-Triggered-At, kept in raw_events.meta), the later winning.
WITH triggers AS (
  SELECT raw_id, MAX(JSON_VALUE(meta.triggered_at)) AS triggered_at
  FROM `${project}.${dataset}.raw_events`
  GROUP BY raw_id
),
latest AS (
  SELECT e.*
  FROM `${project}.${dataset}.order_events` AS e
  LEFT JOIN triggers ON triggers.raw_id = e.raw_id
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY e.source, e.shop, e.order_id
    ORDER BY
      e.version DESC,
      CASE e.event_type WHEN 'order.cancelled' THEN 0 WHEN 'order.updated' THEN 1 ELSE 2 END,
      COALESCE(triggers.triggered_at, '') DESC,
      e.event_id
  ) = 1
),
-- Orders from other sources that shopify_sync wrote into Shopify: the Shopify order, from
-- Shopify's echo webhook (a later CRM-only version does not lose the link).
shopify_links AS (
  SELECT source, shop, order_id,
         MAX(shopify_order_id) AS shopify_order_id,
         MAX(shopify_order_name) AS shopify_order_name,
         MAX(shopify_admin_url) AS shopify_admin_url,
         -- The Shopify shop: the host of the admin link (the CRM keys e-mail orders by
         -- their mailbox).
         MAX(SPLIT(shopify_admin_url, '/')[SAFE_OFFSET(2)]) AS shopify_shop
  FROM `${project}.${dataset}.order_events`
  WHERE shopify_order_id IS NOT NULL AND source != 'shopify'
  GROUP BY source, shop, order_id
),
-- Shopify orders deleted in Shopify (orders/delete, or found gone by the id check).
shopify_deleted AS (
  SELECT shop, order_id
  FROM `${project}.${dataset}.order_events`
  WHERE source = 'shopify' AND COALESCE(deleted, FALSE)
  GROUP BY shop, order_id
),
-- Refunds are Shopify's facts, keyed by the Shopify shop and order; a CRM order that the
-- sync wrote into Shopify takes the refunds of its Shopify order.
shopify_refunds AS (
  SELECT shop, order_id, SUM(amount) AS refunded, COUNT(*) AS refund_count
  FROM (
    SELECT shop, order_id, amount
    FROM `${project}.${dataset}.refund_events`
    WHERE TRUE
    QUALIFY ROW_NUMBER() OVER (PARTITION BY shop, refund_id ORDER BY version DESC) = 1
  )
  GROUP BY shop, order_id
),
refunds AS (
  SELECT 'shopify' AS source, shop, order_id, refunded, refund_count FROM shopify_refunds
  UNION ALL
  SELECT l.source, l.shop, l.order_id, r.refunded, r.refund_count
  FROM shopify_links AS l
  JOIN shopify_refunds AS r ON r.shop = l.shopify_shop AND r.order_id = l.shopify_order_id
),
-- CRM orders whose Shopify order was deleted in Shopify: deleted with it (one order).
crm_deleted AS (
  SELECT DISTINCT l.source, l.shop, l.order_id
  FROM shopify_links AS l
  JOIN shopify_deleted AS d ON d.shop = l.shopify_shop AND d.order_id = l.shopify_order_id
),
-- What managers did in the CRM app (order_actions): the newest pipeline status, the newest
-- shipment's tracking, and whether a manager marked the order paid.
status_actions AS (
  SELECT shop, order_source, order_id, status AS pipeline_status, manager AS pipeline_by,
         manager_name AS pipeline_by_name, occurred_at AS pipeline_at
  FROM `${project}.${dataset}.order_actions`
  WHERE kind = 'status'
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shop, order_source, order_id ORDER BY occurred_at DESC, event_id DESC
  ) = 1
),
shipments AS (
  SELECT shop, order_source, order_id, tracking_number, tracking_company
  FROM `${project}.${dataset}.order_actions`
  WHERE kind = 'status' AND status = 'shipped'
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shop, order_source, order_id ORDER BY occurred_at DESC, event_id DESC
  ) = 1
),
-- Whom the order is assigned to: the newest assignment (assignee NULL: unassigned).
assignments AS (
  SELECT shop, order_source, order_id, assignee AS assigned_to,
         assignee_name AS assigned_to_name, occurred_at AS assigned_at
  FROM `${project}.${dataset}.order_actions`
  WHERE kind = 'assign'
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shop, order_source, order_id ORDER BY occurred_at DESC, event_id DESC
  ) = 1
),
-- Managers' edits (orderhub.order_form.actions.edited): the newest edit that gives an
-- address wins over the order's own address, the newest edit gives the note.
address_edits AS (
  SELECT shop, order_source, order_id, shipping_address AS edited_address
  FROM `${project}.${dataset}.order_actions`
  WHERE kind = 'edit' AND shipping_address IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shop, order_source, order_id ORDER BY occurred_at DESC, event_id DESC
  ) = 1
),
note_edits AS (
  SELECT shop, order_source, order_id, note AS edited_note, occurred_at AS note_edited_at
  FROM `${project}.${dataset}.order_actions`
  WHERE kind = 'edit' AND note IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shop, order_source, order_id ORDER BY occurred_at DESC, event_id DESC
  ) = 1
),
-- The newest edit of items: its lines (those left at 0 removed), subtotal and total win over
-- the order's own, so revenue (daily_sales, orders_by_source) counts the edited total once.
items_edits AS (
  SELECT shop, order_source, order_id,
         ARRAY(
           SELECT AS STRUCT li.line_id, li.product_id, li.variant_id, li.sku, li.title,
                  li.variant_title, li.quantity, li.unit_price, li.total_discount
           FROM UNNEST(line_items) AS li
           WHERE li.quantity > 0
         ) AS edited_lines,
         subtotal AS edited_subtotal, total AS edited_total, occurred_at AS items_edited_at
  FROM `${project}.${dataset}.order_actions`
  WHERE kind = 'edit' AND ARRAY_LENGTH(line_items) > 0
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shop, order_source, order_id ORDER BY occurred_at DESC, event_id DESC
  ) = 1
),
-- Who edited last (address, note or items), and when.
last_edits AS (
  SELECT shop, order_source, order_id, manager AS edited_by, manager_name AS edited_by_name,
         occurred_at AS edited_at
  FROM `${project}.${dataset}.order_actions`
  WHERE kind = 'edit'
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shop, order_source, order_id ORDER BY occurred_at DESC, event_id DESC
  ) = 1
),
paid_actions AS (
  SELECT shop, order_source, order_id, MIN(occurred_at) AS marked_paid_at
  FROM `${project}.${dataset}.order_actions`
  WHERE kind = 'paid'
  GROUP BY shop, order_source, order_id
),
-- Attribution to a chat contact, strongest evidence first: the contact id the order carries
-- (product link, or chosen in the order form); else a touch by a contact with the order's
-- phone (compared digit by digit with the contact's E.164) or e-mail within the touch's attribution window (CHATBOT_ATTRIBUTION_DAYS when
-- the touch arrived) before the order. Only a phone or e-mail ManyChat verified counts
-- (phone_verified / email_verified), or one a manager confirmed in the CRM app is the
-- customer's (the contact's newest decision in contact_identities, for that phone or
-- e-mail): one typed in chat credits nobody (issue 21).
decided AS (
  SELECT shop, contact_id,
         REGEXP_REPLACE(COALESCE(phone, ''), '[^0-9]', '') AS digits, LOWER(email) AS email
  FROM `${project}.${dataset}.contact_identities`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (  -- the later of two decisions from one second's pages wins
    PARTITION BY shop, contact_id ORDER BY version DESC, occurred_at DESC, event_id DESC
  ) = 1
    AND decision = 'confirmed'
),
touches AS (
  SELECT t.shop, t.contact_id, t.occurred_at, t.touch_source, t.campaign, t.ad,
         COALESCE(t.attribution_window_days, 30) AS window_days,
         IF(t.phone_valid AND (IFNULL(t.phone_verified, FALSE)
              OR IFNULL(decided.digits = REGEXP_REPLACE(t.phone, '[^0-9]', ''), FALSE)),
            REGEXP_REPLACE(t.phone, '[^0-9]', ''), NULL) AS phone_digits,
         IF(IFNULL(t.email_verified, FALSE) OR IFNULL(decided.email = LOWER(t.email), FALSE),
            LOWER(t.email), NULL) AS email
  FROM `${project}.${dataset}.contact_events` AS t
  LEFT JOIN decided ON decided.shop = t.shop AND decided.contact_id = t.contact_id
),
chat AS (
  SELECT latest.source, latest.shop, latest.order_id, touches.contact_id,
         touches.touch_source, touches.campaign, touches.ad,
         IF(touches.contact_id = latest.attribution.contact_id, 1, 2) AS strength
  FROM latest
  JOIN touches
    ON touches.shop = latest.shop
   AND (
     touches.contact_id = latest.attribution.contact_id
     OR (
       latest.attribution.contact_id IS NULL
       AND touches.occurred_at <= COALESCE(latest.created_at, latest.occurred_at)
       AND TIMESTAMP_DIFF(COALESCE(latest.created_at, latest.occurred_at), touches.occurred_at, DAY)
         < touches.window_days
       AND (
         touches.phone_digits = REGEXP_REPLACE(latest.customer.phone, '[^0-9]', '')
         OR touches.email = LOWER(latest.customer.email)
       )
     )
   )
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY latest.source, latest.shop, latest.order_id
    ORDER BY strength, touches.occurred_at DESC, touches.contact_id
  ) = 1
)
SELECT
  latest.order_id,
  latest.source,
  latest.shop,
  latest.name,
  latest.number,
  latest.external_ref,
  latest.created_at,
  latest.occurred_at AS updated_at,
  latest.version,
  CASE
    WHEN latest.cancelled_at IS NOT NULL THEN 'cancelled'
    WHEN refunds.refunded >= COALESCE(items_edits.edited_total, latest.total)
         AND COALESCE(items_edits.edited_total, latest.total) > 0 THEN 'refunded'
    WHEN refunds.refunded > 0 THEN 'partially_refunded'
    WHEN paid_actions.marked_paid_at IS NOT NULL
         AND COALESCE(latest.financial_status, 'open') IN ('open', 'pending', 'authorized')
      THEN 'paid'
    ELSE COALESCE(latest.financial_status, 'open')
  END AS status,
  -- The pipeline (orderhub.order_form.actions.pipeline_status): new, confirmed, packed,
  -- shipped, delivered, cancelled.
  CASE
    WHEN latest.cancelled_at IS NOT NULL THEN 'cancelled'
    WHEN status_actions.pipeline_status IS NOT NULL THEN status_actions.pipeline_status
    WHEN latest.fulfillment_status IN ('fulfilled', 'shipped', 'partial', 'partially_fulfilled')
      THEN 'shipped'
    ELSE 'new'
  END AS pipeline_status,
  status_actions.pipeline_by,
  status_actions.pipeline_by_name,
  status_actions.pipeline_at,
  shipments.tracking_number,
  shipments.tracking_company,
  paid_actions.marked_paid_at,
  assignments.assigned_to,
  assignments.assigned_to_name,
  assignments.assigned_at,
  latest.financial_status,
  latest.fulfillment_status,
  latest.cancelled_at,
  latest.cancel_reason,
  latest.currency,
  latest.presentment_currency,
  IF(items_edits.items_edited_at IS NOT NULL, items_edits.edited_subtotal, latest.subtotal)
    AS subtotal,
  latest.tax,
  latest.discounts,
  latest.shipping,
  IF(items_edits.items_edited_at IS NOT NULL, items_edits.edited_total, latest.total) AS total,
  latest.total_presentment,
  COALESCE(refunds.refunded, 0) AS refunded,
  latest.customer,
  CASE
    WHEN address_edits.edited_address IS NOT NULL THEN STRUCT(
      address_edits.edited_address.name AS name,
      CAST(NULL AS STRING) AS company,
      address_edits.edited_address.address1 AS address1,
      address_edits.edited_address.address2 AS address2,
      address_edits.edited_address.city AS city,
      CAST(NULL AS STRING) AS province,
      address_edits.edited_address.zip AS zip,
      CAST(NULL AS STRING) AS country,
      address_edits.edited_address.country_code AS country_code,
      address_edits.edited_address.phone AS phone
    )
    ELSE latest.shipping_address
  END AS shipping_address,
  IF(items_edits.items_edited_at IS NOT NULL, items_edits.edited_lines, latest.line_items)
    AS line_items,
  IF(note_edits.note_edited_at IS NOT NULL, NULLIF(note_edits.edited_note, ''), latest.note)
    AS note,
  last_edits.edited_by,
  last_edits.edited_by_name,
  last_edits.edited_at,
  items_edits.items_edited_at,
  latest.tags,
  STRUCT(
    latest.attribution.channel AS channel,
    latest.attribution.source_name AS source_name,
    latest.attribution.landing_site AS landing_site,
    latest.attribution.referring_site AS referring_site,
    COALESCE(latest.attribution.contact_id, chat.contact_id) AS contact_id,
    CASE
      WHEN latest.attribution.contact_id IS NOT NULL
        THEN COALESCE(latest.attribution.contact_evidence, 'link')
      WHEN chat.contact_id IS NOT NULL THEN 'phone_or_email'
    END AS evidence,
    chat.touch_source AS source,
    chat.campaign AS campaign,
    chat.ad AS ad
  ) AS attribution,
  latest.manager,
  latest.event_id,
  latest.raw_id,
  shopify_links.shopify_order_id,
  shopify_links.shopify_order_name,
  shopify_links.shopify_admin_url
FROM latest
LEFT JOIN refunds
  ON refunds.source = latest.source AND refunds.shop = latest.shop
  AND refunds.order_id = latest.order_id
LEFT JOIN chat
  ON chat.source = latest.source AND chat.shop = latest.shop AND chat.order_id = latest.order_id
LEFT JOIN shopify_links
  ON shopify_links.source = latest.source AND shopify_links.shop = latest.shop
  AND shopify_links.order_id = latest.order_id
LEFT JOIN crm_deleted
  ON crm_deleted.source = latest.source AND crm_deleted.shop = latest.shop
  AND crm_deleted.order_id = latest.order_id
LEFT JOIN status_actions
  ON status_actions.shop = latest.shop AND status_actions.order_source = latest.source
  AND status_actions.order_id = latest.order_id
LEFT JOIN shipments
  ON shipments.shop = latest.shop AND shipments.order_source = latest.source
  AND shipments.order_id = latest.order_id
LEFT JOIN paid_actions
  ON paid_actions.shop = latest.shop AND paid_actions.order_source = latest.source
  AND paid_actions.order_id = latest.order_id
LEFT JOIN assignments
  ON assignments.shop = latest.shop AND assignments.order_source = latest.source
  AND assignments.order_id = latest.order_id
LEFT JOIN address_edits
  ON address_edits.shop = latest.shop AND address_edits.order_source = latest.source
  AND address_edits.order_id = latest.order_id
LEFT JOIN note_edits
  ON note_edits.shop = latest.shop AND note_edits.order_source = latest.source
  AND note_edits.order_id = latest.order_id
LEFT JOIN items_edits
  ON items_edits.shop = latest.shop AND items_edits.order_source = latest.source
  AND items_edits.order_id = latest.order_id
LEFT JOIN last_edits
  ON last_edits.shop = latest.shop AND last_edits.order_source = latest.source
  AND last_edits.order_id = latest.order_id
WHERE COALESCE(latest.deleted, FALSE) = FALSE AND crm_deleted.order_id IS NULL
