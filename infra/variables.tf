variable "project" {
  description = "Google Cloud project id to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions, the Eventarc triggers, Cloud Scheduler and the source bucket."
  type        = string
  default     = "europe-west1"
}

variable "shop_domains" {
  description = <<-EOT
    The Shopify shops (xxx.myshopify.com) whose webhooks are accepted. The first one is the shop
    the Admin API functions act on (SHOPIFY_SHOP_DOMAIN: order form "send link", reconciliation,
    two-way sync). Each shop's webhook secret goes into the shopify-webhook-secrets secret.
  EOT
  type        = list(string)

  validation {
    condition     = length(var.shop_domains) > 0 && alltrue([for d in var.shop_domains : can(regex("^[a-z0-9][a-z0-9-]*\\.myshopify\\.com$", d))])
    error_message = "shop_domains must list at least one shop, each as <name>.myshopify.com in lower case."
  }
}

variable "gmail_mailbox" {
  description = "The Gmail address that receives the delivery services' order e-mails (watched, and caught up on a schedule). Empty: no catch-up job."
  type        = string
  default     = ""
}

variable "dataset_id" {
  description = "BigQuery dataset of the CRM."
  type        = string
  default     = "crm"
}

variable "bigquery_location" {
  description = "BigQuery dataset location (multi-region EU/US or a region)."
  type        = string
  default     = "EU"
}

variable "firestore_location" {
  description = "Firestore database location (e.g. eur3, nam5, or a region). Cannot change after creation."
  type        = string
  default     = "eur3"
}

variable "manychat_api_url" {
  description = "Base URL of the ManyChat API."
  type        = string
  default     = "https://api.manychat.com"
}

variable "shopify_webhook_url" {
  description = "shopify_webhook's URL (output webhook_url after the first apply): where the install flow subscribes another merchant's shop. Empty turns the install flow off."
  type        = string
  default     = ""
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message to a consumer before it goes to the consumer's dead-letter topic (5-100)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "schedules" {
  description = "Cron schedules (in time_zone) of the Cloud Scheduler jobs."
  type = object({
    gmail_watch_renew = string
    gmail_catch_up    = string
    shopify_reconcile = string
    privacy_erase     = string
  })
  default = {
    gmail_watch_renew = "17 4 * * *"   # daily; a watch lasts 7 days
    gmail_catch_up    = "*/15 * * * *" # push notifications can be delayed or dropped
    shopify_reconcile = "7 * * * *"    # hourly; webhooks can be missed
    privacy_erase     = "23 3 * * *"   # daily; Shopify allows 30 days, rows still streaming wait a day
  }
}

variable "time_zone" {
  description = "Time zone of the schedules."
  type        = string
  default     = "Etc/UTC"
}

variable "deletion_protection" {
  description = "Protect the BigQuery tables and the Firestore database from terraform destroy."
  type        = bool
  default     = true
}

variable "shopify_api_version" {
  description = "Shopify Admin API version the functions call (YYYY-MM)."
  type        = string
  default     = "2026-10"
}

variable "shopify_app_ids" {
  description = "Our Shopify app's id(s) (GraphQL currentAppInstallation { app { id } }, the number): only orders these created with our sourceIdentifier are the CRM's own orders. Required: the webhook and reconciliation refuse to start without it."
  type        = list(string)

  validation {
    condition     = length(var.shopify_app_ids) > 0 && alltrue([for id in var.shopify_app_ids : can(regex("^([0-9]+|gid://shopify/App/[0-9]+)$", id))])
    error_message = "Set shopify_app_ids to our Shopify app's id(s): without them every echo of the sync's orders would be taken for a new order."
  }
}

variable "order_form" {
  description = "The managers' order form: phone region, currency, delivery methods, session length, URL prefix."
  type = object({
    default_country  = string
    currency         = string
    delivery_methods = list(string)
    session_hours    = number
    base_path        = string
  })
  default = {
    default_country  = "US"
    currency         = "USD"
    delivery_methods = ["courier", "post", "pickup"]
    session_hours    = 12
    base_path        = ""
  }
}

variable "notifier" {
  description = "Manager notifications: Messenger message tag (or \"none\"), link for non-Shopify orders (may contain {order_id}), and the fallback list of managers (ManyChat subscriber ids) used until settings/managers exists in Firestore."
  type = object({
    message_tag = string
    order_url   = string
    managers = list(object({
      subscriber_id = string
      name          = string
    }))
  })
  default = {
    message_tag = "none" # Meta allows tags only for updates personally relevant to the recipient
    order_url   = ""
    managers    = []
  }
}

variable "chatbot" {
  description = "The chat-bot leg: header carrying the shared secret, phone region and currency, the storefront the product links open (empty: https://<shop domain>), this function's public https URL for the catalogue's More button (empty: the request's own), product cache seconds, and the days within which an order with a contact's phone or e-mail is attributed to it."
  type = object({
    secret_header    = string
    default_country  = string
    currency         = string
    store_url        = string
    public_url       = string
    cache_seconds    = number
    attribution_days = number
  })
  default = {
    secret_header    = "X-OrderHub-Secret"
    default_country  = "US"
    currency         = "USD"
    store_url        = ""
    public_url       = ""
    cache_seconds    = 60
    attribution_days = 30
  }
}

variable "webhook_min_instances" {
  description = "shopify_webhook instances kept warm (no cold start for Shopify's deliveries); 0 = scale to zero."
  type        = number
  default     = 0
}

variable "catalogue_dataset_id" {
  description = "BigQuery dataset holding the order form's catalogue (an authorized view of products)."
  type        = string
  default     = "catalogue"
}

variable "managers_database" {
  description = "Firestore database of the managers (order-form sign-ins, who is notified); functions may only read it."
  type        = string
  default     = "managers"
}

variable "app_database" {
  description = "Firestore database of the CRM app's writable state (switches, preferences, installations, its sessions and marks); the app writes nothing else (docs/app-state.md)."
  type        = string
  default     = "crm-app"
}

variable "shop_time_zone" {
  description = "The shop's time zone (IANA name): the calendar days of the daily_sales view."
  type        = string
  default     = "Etc/UTC"
}

variable "notifier_fallback_from" {
  description = "Sending address (the shop's Gmail) for e-mails to managers whose Messenger window closed; empty turns the fallback off. The notifier then needs its own gmail.send-only grant in the GMAIL_SEND_REFRESH_TOKEN secret."
  type        = string
  default     = ""
}

variable "vapid_public_key" {
  description = "Web Push: the VAPID public key (base64url P-256 point) the CRM app hands to phones; its private half is the VAPID_PRIVATE_KEY secret of the notifier. Empty: no Web Push (docs/notifier.md)."
  type        = string
  default     = ""
}

variable "vapid_subject" {
  description = "Web Push: the contact the push services see in the VAPID JWT, a mailto: or https: URI (RFC 8292)."
  type        = string
  default     = "mailto:owner@example.com"
}
