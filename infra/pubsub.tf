# Topics, dead-letter topics and their holding subscriptions.
#
# Each event function reads its topic through the subscription its Eventarc trigger creates,
# with retry_policy = RETRY_POLICY_RETRY (functions.tf). Eventarc owns that subscription, so
# Terraform cannot declare its dead-letter policy; infra/scripts/attach-dead-letters (run by
# cloudbuild.yaml after apply, see docs/deploy.md) sets the dead-letter topic below, the
# delivery attempts and the backoff on it, from the dead_letters output. Idempotent.

resource "google_pubsub_topic" "topics" {
  for_each = local.topics

  name                       = each.key
  message_retention_duration = "604800s" # 7 days: a consumer can be replayed by seeking

  depends_on = [google_project_service.apis]
}

# One dead-letter topic per consumer, so a replay goes back to the one consumer that failed.
resource "google_pubsub_topic" "dead_letter" {
  for_each = local.event_functions

  name = "${each.value.service_name}-dead-letter"

  depends_on = [google_project_service.apis]
}

# A message published to a topic without subscriptions is lost: hold dead letters for 7 days.
resource "google_pubsub_subscription" "dead_letter_hold" {
  for_each = local.event_functions

  name                       = "${each.value.service_name}-dead-letter-hold"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true

  expiration_policy {
    ttl = "" # never expires for inactivity
  }
}

# Why: Pub/Sub forwards undeliverable messages as its service agent, which must publish here.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.event_functions

  topic  = google_pubsub_topic.dead_letter[each.key].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

# Why: Gmail's own service account publishes the users.watch notifications to gmail-push.
resource "google_pubsub_topic_iam_member" "gmail_push_publisher" {
  topic  = google_pubsub_topic.topics["gmail-push"].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:gmail-api-push@system.gserviceaccount.com"
}
