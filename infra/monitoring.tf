# Monitoring: who is told, what is counted, when to alert, the SLOs and the dashboard.
#
# Alert on symptoms (Google SRE workbook): a customer-visible journey is failing, or something
# that feeds it stopped. Every log-based metric below reads our structured JSON logs
# (orderhub/logs.py: jsonPayload.message plus fields); tests/unit/test_infra_consistency.py
# checks that every jsonPayload.message named here is one the code really logs, and that each
# label reads a field those log calls write. 2nd-gen functions are Cloud Run services:
# resource.type="cloud_run_revision", label service_name. What to do for each alert:
# docs/runbook.md (its documentation text below says the same, shorter).

variable "alert_email" {
  description = "E-mail address that receives OrderHub's alerts (required to be told anything)."
  type        = string
  default     = ""
}

variable "alert_email_second" {
  description = "Optional second address for the alerts (e.g. the operator's); empty: none."
  type        = string
  default     = ""
}

variable "source_quiet_hours" {
  description = "Per order source: hours without an accepted order after which the owner is alerted (its usual quiet time, with margin). Sources: shopify, manual (the form), manychat, email:<service>."
  type        = map(number)
  default = {
    "shopify"      = 24
    "manual"       = 72
    "email:kiire"  = 48
    "email:smakuy" = 48
  }
}

variable "reconcile_interval_seconds" {
  description = "Seconds between shopify_reconcile runs (var.schedules.shopify_reconcile; hourly by default)."
  type        = number
  default     = 3600
}

locals {
  alert_channels = [for c in google_monitoring_notification_channel.email : c.id]
  metric_prefix  = "logging.googleapis.com/user"
  runbook        = "docs/runbook.md in the OrderHub repository"

  # Availability over 28 days: the SRE workbook's burn rates for a 28-day window
  # (2 % of the budget in 1 h, 5 % in 6 h).
  burn_rates = {
    fast = { long = "3600s", short = "300s", factor = 13.44 }
    slow = { long = "21600s", short = "1800s", factor = 5.6 }
  }
  slos = {
    webhook_availability = google_monitoring_slo.webhook_availability.id
    freshness            = google_monitoring_slo.freshness.id
  }
  burn_alerts = {
    for pair in setproduct(keys(local.slos), keys(local.burn_rates)) :
    "${pair[0]}_${pair[1]}" => { slo = pair[0], window = pair[1] }
  }
}

# ---------------------------------------------------------------- who is told
resource "google_monitoring_notification_channel" "email" {
  for_each = toset(compact([var.alert_email, var.alert_email_second]))

  display_name = "OrderHub alerts (${each.key})"
  type         = "email"
  labels = {
    email_address = each.key
  }
}

# ---------------------------------------------------------------- log-based metrics
# Labels: function (the Cloud Run service), shop and source where the log line carries them.

resource "google_logging_metric" "orders_accepted" {
  name        = "orderhub_orders_accepted"
  description = "New orders written to the CRM (crm_writer), per source and shop."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    jsonPayload.message="event written"
    jsonPayload.event_type="order.created"
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "shop"
      value_type = "STRING"
    }
    labels {
      key        = "source"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
    shop     = "EXTRACT(jsonPayload.shop)"
    source   = "EXTRACT(jsonPayload.source)"
  }
}

resource "google_logging_metric" "payloads_quarantined" {
  name        = "orderhub_payloads_quarantined"
  description = "Payloads kept in quarantine instead of becoming events (bad webhook, unreadable mail, values that do not fit)."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    ((jsonPayload.message="event written" AND jsonPayload.event_type="payload.quarantined")
     OR jsonPayload.message="crm_writer quarantined a message")
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "shop"
      value_type = "STRING"
    }
    labels {
      key        = "source"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
    shop     = "EXTRACT(jsonPayload.shop)"
    source   = "EXTRACT(jsonPayload.source)"
  }
}

resource "google_logging_metric" "sync_outcomes" {
  name        = "orderhub_sync_outcomes"
  description = "shopify_sync outcomes (synced, skipped, failed, waiting), per shop and source."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    (jsonPayload.message="shopify_sync synced" OR jsonPayload.message="shopify_sync skipped"
     OR jsonPayload.message="shopify_sync failed" OR jsonPayload.message="shopify_sync waiting")
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "shop"
      value_type = "STRING"
    }
    labels {
      key        = "source"
      value_type = "STRING"
    }
    labels {
      key        = "status"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
    shop     = "EXTRACT(jsonPayload.shop)"
    source   = "EXTRACT(jsonPayload.source)"
    status   = "REGEXP_EXTRACT(jsonPayload.message, \"shopify_sync (\\\\w+)\")"
  }
}

resource "google_logging_metric" "sync_failures" {
  name        = "orderhub_sync_failures"
  description = "Writes Shopify refused for good (shopify_sync failed), per shop, source and entity."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    jsonPayload.message="shopify_sync failed"
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "shop"
      value_type = "STRING"
    }
    labels {
      key        = "source"
      value_type = "STRING"
    }
    labels {
      key        = "entity"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
    shop     = "EXTRACT(jsonPayload.shop)"
    source   = "EXTRACT(jsonPayload.source)"
    entity   = "EXTRACT(jsonPayload.entity)"
  }
}

resource "google_logging_metric" "notifier_failures" {
  name        = "orderhub_notifier_failures"
  description = "Manager notifications that failed for good or were given up, by ManyChat code."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    (jsonPayload.message="notification failed for good" OR jsonPayload.message="notification given up")
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "code"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
    code     = "EXTRACT(jsonPayload.manychat_code)"
  }
}

# 3011: the manager's Messenger 24-hour window is closed. Counted apart: the fix is the
# manager's (write to the page once) or the e-mail fallback, not ours.
resource "google_logging_metric" "notifier_window_closed" {
  name        = "orderhub_notifier_window_closed"
  description = "Notifications ManyChat refused with code 3011 (24-hour window closed)."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    jsonPayload.message="notification failed for good"
    jsonPayload.manychat_code=3011
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
  }
}

resource "google_logging_metric" "gmail_sync_lag" {
  name        = "orderhub_gmail_sync_lag"
  description = "Seconds from Gmail's push notification (its Pub/Sub publish time) to the end of the mailbox sync."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    jsonPayload.message="gmail sync done"
    jsonPayload.lag_s>=0
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "mode"
      value_type = "STRING"
    }
  }
  value_extractor = "EXTRACT(jsonPayload.lag_s)"
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
    mode     = "EXTRACT(jsonPayload.mode)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 0.05
    }
  }
}

# Freshness: from the moment a source handed us the payload (raw.received_at) to its row in
# the CRM (crm_writer). The freshness SLO reads the shopify source.
resource "google_logging_metric" "write_lag" {
  name        = "orderhub_write_lag"
  description = "Seconds from receiving a payload to its row in the CRM tables, per source and shop."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    jsonPayload.message="event written"
    jsonPayload.lag_s>=0
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "shop"
      value_type = "STRING"
    }
    labels {
      key        = "source"
      value_type = "STRING"
    }
  }
  value_extractor = "EXTRACT(jsonPayload.lag_s)"
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
    shop     = "EXTRACT(jsonPayload.shop)"
    source   = "EXTRACT(jsonPayload.source)"
  }
  bucket_options {
    explicit_buckets {
      bounds = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600]
    }
  }
}

# A reconcile run that publishes something found what the webhooks missed.
resource "google_logging_metric" "reconcile_missed" {
  name        = "orderhub_reconcile_missed"
  description = "Reconcile passes (one per shop and resource) that published changes the webhooks had not delivered."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    jsonPayload.message="reconciled"
    jsonPayload.published>0
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "shop"
      value_type = "STRING"
    }
    labels {
      key        = "resource"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
    shop     = "EXTRACT(jsonPayload.shop)"
    resource = "EXTRACT(jsonPayload.resource)"
  }
}

resource "google_logging_metric" "gmail_watch_renewed" {
  name        = "orderhub_gmail_watch_renewed"
  description = "Successful renewals of the Gmail watch (users.watch) by gmail_watch_renew."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    jsonPayload.message="gmail watch renewed"
  EOT
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
  }
}

# ---------------------------------------------------------------- alert policies
resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "OrderHub: messages in a dead-letter subscription"
  combiner              = "OR"
  notification_channels = local.alert_channels
  severity              = "ERROR"

  conditions {
    display_name = "undelivered dead letters > 0"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.label.subscription_id=monitoring.regex.full_match(\".*-dead-letter-hold\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "60s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "OrderHub: a consumer gave up on messages (dead letters)"
    content   = <<-EOT
      A function failed the same message ${var.max_delivery_attempts} times and Pub/Sub moved it
      to the function's dead-letter topic (subscription in the label subscription_id).
      Nothing is lost: the messages wait there for 7 days.
      1. Read the function's errors: `gcloud logging read 'resource.labels.service_name="<function>" AND severity>=ERROR' --limit 20`.
      2. Fix the cause (deploy, secret, quota), then replay: `scripts/deadletters replay <function>`.
      See ${local.runbook}, "Dead letters".
    EOT
  }
}

resource "google_monitoring_alert_policy" "oldest_unacked" {
  display_name          = "OrderHub: a push subscription is falling behind (> 10 min)"
  combiner              = "OR"
  notification_channels = local.alert_channels
  severity              = "WARNING"

  conditions {
    display_name = "oldest unacked message older than 10 minutes"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.label.subscription_id=starts_with(\"eventarc-\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 600
      duration        = "60s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "OrderHub: events wait more than 10 minutes for a function"
    content   = <<-EOT
      The function behind this Eventarc subscription is failing or too slow, so orders reach the
      CRM, Shopify or the managers late. Check its 5xx and errors in the dashboard
      "OrderHub"; if it is at max instances, raise max_instances in infra/main.tf.
      See ${local.runbook}, "Backlog".
    EOT
  }
}

resource "google_monitoring_alert_policy" "errors_5xx" {
  display_name          = "OrderHub: a function answers 5xx to more than 5 % of requests"
  combiner              = "OR"
  notification_channels = local.alert_channels
  severity              = "ERROR"

  conditions {
    display_name = "5xx ratio > 5 % for 5 minutes, per function"
    condition_threshold {
      filter             = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.label.response_code_class=\"5xx\""
      denominator_filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = 0.05
      duration           = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "OrderHub: a function is failing (5xx)"
    content   = <<-EOT
      The function in service_name answers 5xx. For shopify-webhook, Shopify retries and, after
      repeated failures, deletes our webhook subscription: fix fast, then run
      `scripts/shopify_register_webhooks` and `scripts/resync`. For event functions, Pub/Sub
      redelivers. Read the errors:
      `gcloud logging read 'resource.labels.service_name="<service>" AND severity>=ERROR' --limit 20`.
      See ${local.runbook}, "5xx".
    EOT
  }
}

# No accepted order from a source for longer than its usual quiet time. A log-based counter
# writes no point when nothing matches, so "absent" catches a source that stopped; the
# below-threshold condition catches a series that exists but sums to 0 (e.g. right after
# deploy, or when only other shops' series report).
resource "google_monitoring_alert_policy" "source_quiet" {
  for_each = var.source_quiet_hours

  display_name          = "OrderHub: no orders from ${each.key} for ${each.value} h"
  combiner              = "OR"
  notification_channels = local.alert_channels
  severity              = "WARNING"

  conditions {
    display_name = "no ${each.key} orders reported (metric absent)"
    condition_absent {
      filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.metric_prefix}/${google_logging_metric.orders_accepted.name}\" AND metric.label.source=\"${each.key}\""
      duration = "${each.value * 3600}s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.source"]
      }
    }
  }

  conditions {
    display_name = "${each.key} orders below 1 in the quiet time"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.metric_prefix}/${google_logging_metric.orders_accepted.name}\" AND metric.label.source=\"${each.key}\""
      comparison      = "COMPARISON_LT"
      threshold_value = 1
      # Alerting aligns over at most 25 h: sum over min(quiet time, 24 h), and require it for
      # the rest of the quiet time.
      duration = "${max(0, each.value - min(each.value, 24)) * 3600}s"
      aggregations {
        alignment_period     = "${min(each.value, 24) * 3600}s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.source"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "OrderHub: ${each.key} sent no orders for ${each.value} hours"
    content   = <<-EOT
      No new order from ${each.key} has reached the CRM for ${each.value} hours, longer than its
      usual quiet time. Open the CRM app's /health page: it says which link is broken.
      shopify: check the webhook subscriptions (`scripts/shopify_register_webhooks`), then
      `scripts/resync`. email:*: check the Gmail watch and token (`scripts/gmail_authorize`).
      A real quiet spell: raise source_quiet_hours["${each.key}"].
      See ${local.runbook}, "No orders from a source".
    EOT
  }
}

resource "google_monitoring_alert_policy" "scheduler_failures" {
  display_name          = "OrderHub: a Cloud Scheduler job failed"
  combiner              = "OR"
  notification_channels = local.alert_channels
  severity              = "WARNING"

  conditions {
    display_name = "Cloud Scheduler job logged an error"
    condition_matched_log {
      filter = "resource.type=\"cloud_scheduler_job\" AND severity>=ERROR"
      label_extractors = {
        job = "EXTRACT(resource.labels.job_id)"
      }
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "OrderHub: scheduled job $${log.extracted_label.job} failed"
    content   = <<-EOT
      A scheduled job (Gmail watch renewal, Gmail catch-up, Shopify reconcile, privacy erase)
      did not get a 2xx after its retries. Run it by hand to see the answer:
      `gcloud scheduler jobs run <job> --location ${var.region}`.
      See ${local.runbook}, "Scheduler job failed".
    EOT
  }
}

resource "google_monitoring_alert_policy" "gmail_watch" {
  count = var.gmail_mailbox != "" ? 1 : 0

  display_name          = "OrderHub: the Gmail watch was not renewed for 26 h"
  combiner              = "OR"
  notification_channels = local.alert_channels
  severity              = "ERROR"

  conditions {
    display_name = "no successful watch renewal in 26 h"
    condition_absent {
      filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.metric_prefix}/${google_logging_metric.gmail_watch_renewed.name}\""
      duration = "93600s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "OrderHub: Gmail watch not renewed"
    content   = <<-EOT
      gmail_watch_renew has not renewed the mailbox watch for 26 hours; a watch lasts 7 days,
      after which marketplace order mails stop arriving in real time (the 15-minute catch-up
      still reads them while the token is valid). Most often the OAuth refresh token expired
      (7 days for an app in "Testing"): run `scripts/gmail_authorize`, then
      `gcloud scheduler jobs run gmail-watch-renew --location ${var.region}`.
      See ${local.runbook}, "Gmail watch".
    EOT
  }
}

resource "google_monitoring_alert_policy" "reconcile_missed" {
  display_name          = "OrderHub: reconcile found missed webhooks 3 runs in a row"
  combiner              = "OR"
  notification_channels = local.alert_channels
  severity              = "WARNING"

  conditions {
    display_name = "reconcile published changes in each of 3 consecutive runs"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.metric_prefix}/${google_logging_metric.reconcile_missed.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      # Each window of one interval holds one run: true for 2 intervals = 3 runs in a row.
      duration = "${2 * var.reconcile_interval_seconds}s"
      aggregations {
        alignment_period     = "${var.reconcile_interval_seconds}s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.shop"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "OrderHub: Shopify is not delivering webhooks"
    content   = <<-EOT
      Three reconcile runs in a row found changes that no webhook had delivered: Shopify is
      failing to deliver (or deleted our subscription after repeated failures). Re-register:
      `scripts/shopify_register_webhooks`, then check the 5xx alert of shopify-webhook.
      Nothing is lost: reconcile has published what it found.
      See ${local.runbook}, "Reconcile finds missed webhooks".
    EOT
  }
}

# ---------------------------------------------------------------- SLOs
resource "google_monitoring_custom_service" "orderhub" {
  service_id   = "orderhub"
  display_name = "OrderHub: orders from every source into the CRM"
}

resource "google_monitoring_slo" "webhook_availability" {
  service      = google_monitoring_custom_service.orderhub.service_id
  slo_id       = "webhook-availability"
  display_name = "Shopify webhooks answered without 5xx: 99.9 % over 28 days"

  goal                = 0.999
  rolling_period_days = 28

  request_based_sli {
    good_total_ratio {
      bad_service_filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND resource.label.service_name=\"shopify-webhook\" AND metric.label.response_code_class=\"5xx\""
      total_service_filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND resource.label.service_name=\"shopify-webhook\""
    }
  }
}

resource "google_monitoring_slo" "freshness" {
  service      = google_monitoring_custom_service.orderhub.service_id
  slo_id       = "freshness"
  display_name = "Shopify webhook to a row in orders within 60 s: 99 % over 28 days"

  goal                = 0.99
  rolling_period_days = 28

  request_based_sli {
    distribution_cut {
      distribution_filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.metric_prefix}/${google_logging_metric.write_lag.name}\" AND metric.label.source=\"shopify\""
      range {
        min = 0
        max = 60
      }
    }
  }
}

# Multi-window burn rate (SRE workbook): fire when both the long and the short window burn
# faster than the factor, so a spike that is over does not page.
resource "google_monitoring_alert_policy" "burn_rate" {
  for_each = local.burn_alerts

  display_name          = "OrderHub: SLO ${each.value.slo} burning ${local.burn_rates[each.value.window].factor}x (${each.value.window})"
  combiner              = "AND"
  notification_channels = local.alert_channels
  severity              = each.value.window == "fast" ? "CRITICAL" : "WARNING"

  conditions {
    display_name = "burn rate over ${local.burn_rates[each.value.window].long}"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${local.slos[each.value.slo]}\", \"${local.burn_rates[each.value.window].long}\")"
      comparison      = "COMPARISON_GT"
      threshold_value = local.burn_rates[each.value.window].factor
      duration        = "0s"
    }
  }

  conditions {
    display_name = "burn rate over ${local.burn_rates[each.value.window].short}"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${local.slos[each.value.slo]}\", \"${local.burn_rates[each.value.window].short}\")"
      comparison      = "COMPARISON_GT"
      threshold_value = local.burn_rates[each.value.window].factor
      duration        = "0s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "OrderHub: SLO ${each.value.slo} is burning its error budget (${each.value.window})"
    content   = <<-EOT
      At this rate the 28-day error budget of "${each.value.slo}" is gone in
      ${each.value.window == "fast" ? "about 2 days" : "about 5 days"}.
      webhook_availability: shopify-webhook answers 5xx (see the 5xx alert; Firestore or
      Pub/Sub unavailable, or a bad deploy: roll back with `gcloud run services update-traffic`).
      freshness: events reach the orders table late: check the backlog and crm_writer's errors.
      See ${local.runbook}, "SLO burn".
    EOT
  }
}

# ---------------------------------------------------------------- dashboard
resource "google_monitoring_dashboard" "orderhub" {
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", {
    metric_prefix        = local.metric_prefix
    orders_accepted      = google_logging_metric.orders_accepted.name
    payloads_quarantined = google_logging_metric.payloads_quarantined.name
    sync_outcomes        = google_logging_metric.sync_outcomes.name
    write_lag            = google_logging_metric.write_lag.name
  })
}
