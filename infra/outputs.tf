output "webhook_url" {
  description = "Shopify webhook address (register it for every topic: scripts/shopify_register_webhooks)."
  value       = try(google_cloudfunctions2_function.fn["shopify_webhook"].service_config[0].uri, null)
}

output "order_form_url" {
  description = "The managers' order form."
  value       = try(google_cloudfunctions2_function.fn["order_form"].service_config[0].uri, null)
}

output "function_urls" {
  description = "Every deployed function's address."
  value       = { for name, f in google_cloudfunctions2_function.fn : name => f.service_config[0].uri }
}

output "planned_functions" {
  description = "Entries of local.functions not deployed because functions/main.py lacks their entry point."
  value       = sort([for name in keys(local.fn) : name if !contains(keys(local.deployed), name)])
}

output "secrets" {
  description = "Secret Manager secret id of each secret environment variable; add a version to each."
  value       = local.secret_ids
}

output "dead_letters" {
  description = "Input of infra/scripts/attach-dead-letters: each event function's Eventarc trigger and dead-letter topic."
  value = {
    for name, f in local.event_functions : name => {
      trigger               = google_cloudfunctions2_function.fn[name].event_trigger[0].trigger
      dead_letter_topic     = google_pubsub_topic.dead_letter[name].id
      hold_subscription     = google_pubsub_subscription.dead_letter_hold[name].name
      max_delivery_attempts = var.max_delivery_attempts
    }
  }
}

output "bundle_object" {
  description = "The deploy bundle, named by its content hash."
  value       = google_storage_bucket_object.bundle.name
}

output "chatbot_url" {
  description = "The chat-bot's address: ManyChat's External Request posts to <url>/contacts, Dynamic Blocks to <url>/catalogue (docs/chatbot.md)."
  value       = try(google_cloudfunctions2_function.fn["chatbot"].service_config[0].uri, null)
}
