# Cloud Scheduler: HTTP functions on a schedule (with an OIDC token), and the Gmail catch-up.
resource "google_service_account" "scheduler" {
  account_id   = "orderhub-scheduler"
  display_name = "OrderHub: Cloud Scheduler calls the scheduled functions"
}

# Why: the scheduler calls the scheduled functions; only those services.
resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes" {
  for_each = local.scheduled_functions

  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_scheduler_job" "functions" {
  for_each = local.scheduled_functions

  name             = each.value.service_name
  description      = each.value.description
  region           = var.region
  schedule         = var.schedules[each.value.schedule]
  time_zone        = var.time_zone
  attempt_deadline = "${each.value.timeout + 30}s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn[each.key].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.fn[each.key].service_config[0].uri
    }
  }

  depends_on = [google_project_service.apis]
}

# Gmail push notifications can be delayed or dropped: now and then publish the same kind of
# message Gmail would ({"emailAddress": ...}) to gmail-push, so gmail_ingest reads the
# mailbox history from its checkpoint. Messages carry the attribute trigger=catch-up.
resource "google_cloud_scheduler_job" "gmail_catch_up" {
  count = contains(keys(local.event_functions), "gmail_ingest") && var.gmail_mailbox != "" ? 1 : 0

  name        = "gmail-catch-up"
  description = "Publish a catch-up notification for ${var.gmail_mailbox} to gmail-push."
  region      = var.region
  schedule    = var.schedules.gmail_catch_up
  time_zone   = var.time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.topics["gmail-push"].id
    data       = base64encode(jsonencode({ emailAddress = var.gmail_mailbox }))
    attributes = { trigger = "catch-up" }
  }

  depends_on = [google_project_service.apis]
}
