# The one place that says which functions exist and what each may touch.
#
# Every Cloud Function of OrderHub is one entry of local.functions, keyed by its entry point in
# functions/main.py. Everything else (service account, roles, secrets, trigger, dead-letter
# topic, scheduler job, invoker grants) is derived from the entry. Adding a function is adding
# one entry here. tests/unit/test_infra_consistency.py keeps this map and the code in step.
#
# An entry is deployed only once its entry point exists in functions/main.py (local.deployed),
# so entries for functions still being written do no harm.
#
# Fields (all but description optional):
#   event_topic   consumes this topic through an Eventarc trigger (a CloudEvent function);
#                 absent: an HTTP function
#   public        HTTP function anyone may call (it authenticates requests itself)
#   schedule      key of var.schedules: Cloud Scheduler calls it with an OIDC token
#   env           environment variables (GOOGLE_CLOUD_PROJECT is added to every function)
#   secrets       environment variables read from Secret Manager (one secret each)
#   publishes     topics it publishes to            -> roles/pubsub.publisher on each topic
#   firestore     reads/writes Firestore documents  -> roles/datastore.user on the project
#   bigquery      appends rows to the CRM dataset   -> roles/bigquery.dataEditor on the dataset
#   bigquery_read queries the CRM's views            -> dataViewer on the dataset + jobUser
#   memory, cpu, concurrency, timeout, max_instances, min_instances: runtime sizing
locals {
  functions = {
    shopify_webhook = {
      description = "Shopify webhooks -> verified, de-duplicated canonical events on order-events."
      public      = true # Shopify cannot present Google credentials; the HMAC authenticates.
      env = {
        ORDER_EVENTS_TOPIC = google_pubsub_topic.topics["order-events"].name
        # functions-framework's gunicorn threads (default 4 per vCPU): one per concurrent
        # request, so a burst's claims and publishes share RPCs (orderhub.groupcommit)
        THREADS = "16"
      }
      secrets     = ["SHOPIFY_WEBHOOK_SECRETS"]
      publishes   = ["order-events"] # one canonical event per accepted webhook
      firestore   = true             # claim-once record per X-Shopify-Webhook-Id (duplicates)
      memory      = "512M"
      cpu         = "1"
      concurrency = 16 # Shopify allows 5 s per request; one instance serves a burst
      timeout     = 10
      # Instances kept warm: 1 removes cold starts (~0.4 s, see docs/performance.md)
      # for about the price of one small instance; 0 pays nothing while idle.
      min_instances = var.webhook_min_instances
    }

    crm_writer = {
      description = "order-events -> append-only rows in the BigQuery CRM."
      event_topic = "order-events"
      env = {
        BIGQUERY_DATASET = google_bigquery_dataset.crm.dataset_id
      }
      bigquery = true # insertAll into the event tables, quarantine and raw_events
    }

    gmail_ingest = {
      description = "Gmail push (and scheduled catch-up) -> new order e-mails as canonical events."
      event_topic = "gmail-push"
      env = {
        ORDER_EVENTS_TOPIC = google_pubsub_topic.topics["order-events"].name
        GMAIL_PUSH_TOPIC   = google_pubsub_topic.topics["gmail-push"].name
        GMAIL_MAILBOX      = var.gmail_mailbox # notifications for other addresses are ignored
      }
      secrets   = ["GMAIL_CLIENT_ID", "GMAIL_CLIENT_SECRET", "GMAIL_REFRESH_TOKEN"]
      publishes = ["order-events"] # one canonical event per parsed order e-mail
      firestore = true             # historyId checkpoint per mailbox; claim per message id
      timeout   = 120
    }

    gmail_watch_renew = {
      description = "Daily: renew the Gmail users.watch on gmail-push (a watch lasts 7 days)."
      schedule    = "gmail_watch_renew"
      env = {
        GMAIL_PUSH_TOPIC   = google_pubsub_topic.topics["gmail-push"].name
        GMAIL_MAILBOX      = var.gmail_mailbox
        ORDER_EVENTS_TOPIC = google_pubsub_topic.topics["order-events"].name
      }
      secrets   = ["GMAIL_CLIENT_ID", "GMAIL_CLIENT_SECRET", "GMAIL_REFRESH_TOKEN"]
      publishes = ["order-events"] # after renewing the watch it runs a catch-up sync
      firestore = true             # watch expiration; historyId checkpoint; claims
    }

    order_form = {
      description = "The managers' order form (and the Shopify draft-order 'send link' mode)."
      public      = true # managers sign in inside the app; the form carries a CSRF token
      env = {
        ORDER_EVENTS_TOPIC          = google_pubsub_topic.topics["order-events"].name
        SHOPIFY_SHOP_DOMAIN         = var.shop_domains[0]
        SHOPIFY_API_VERSION         = var.shopify_api_version
        BIGQUERY_DATASET            = google_bigquery_dataset.crm.dataset_id
        ORDER_FORM_DEFAULT_COUNTRY  = var.order_form.default_country
        ORDER_FORM_CURRENCY         = var.order_form.currency
        ORDER_FORM_DELIVERY_METHODS = join(",", var.order_form.delivery_methods)
        ORDER_FORM_SESSION_HOURS    = tostring(var.order_form.session_hours)
        ORDER_FORM_BASE_PATH        = var.order_form.base_path
      }
      secrets       = ["ORDER_FORM_SESSION_SECRET", "ORDER_FORM_SHOPIFY_TOKEN"] # write_draft_orders only
      publishes     = ["order-events"]                                          # one canonical event per submitted order
      firestore     = true                                                      # managers, sessions' throttle, claim-once per submission
      bigquery_read = true                                                      # the product picker searches the products view
    }

    notifier = {
      description = "order-events -> one ManyChat message per order (and alert) to each manager."
      event_topic = "order-events"
      env = {
        MANYCHAT_API_URL     = var.manychat_api_url
        MANYCHAT_MESSAGE_TAG = var.notifier.message_tag
        NOTIFY_ORDER_URL     = var.notifier.order_url
        NOTIFY_MANAGERS      = jsonencode(var.notifier.managers) # fallback; settings/managers wins
        BIGQUERY_DATASET     = google_bigquery_dataset.crm.dataset_id
        NOTIFY_FALLBACK_FROM = var.notifier_fallback_from # e-mail when a manager's Messenger window closed
      }
      secrets   = ["MANYCHAT_TOKEN", "GMAIL_CLIENT_ID", "GMAIL_CLIENT_SECRET", "GMAIL_REFRESH_TOKEN"] # Gmail: the e-mail fallback (gmail.send)
      firestore = true                                                                                # claim per (event, manager); managers to notify (settings/managers)
      bigquery  = true                                                                                # appends every attempt to the notifications table
    }

    shopify_reconcile = {
      description = "Scheduled: orders, customers, products updated since the last run (missed webhooks)."
      schedule    = "shopify_reconcile"
      env = {
        ORDER_EVENTS_TOPIC  = google_pubsub_topic.topics["order-events"].name
        SHOPIFY_SHOP_DOMAIN = var.shop_domains[0]
        SHOPIFY_API_VERSION = var.shopify_api_version
        BIGQUERY_DATASET    = google_bigquery_dataset.crm.dataset_id
      }
      secrets       = ["SHOPIFY_ADMIN_TOKEN"]
      publishes     = ["order-events"] # the same canonical events the webhook would have sent
      firestore     = true             # the updated_at cursor per shop and resource
      bigquery_read = true             # which version of each entity the CRM already holds
      timeout       = 540
    }

    shopify_sync = {
      description = "crm-changes -> Shopify Admin API (two-way sync)."
      event_topic = "crm-changes"
      env = {
        SHOPIFY_SHOP_DOMAIN = var.shop_domains[0]
      }
      secrets   = ["SHOPIFY_ADMIN_TOKEN"]
      firestore = true # sync links (Shopify id <-> CRM id), claim-once per change
    }
  }

  # Topics the code uses. A dead-letter topic per consumer is added in pubsub.tf.
  topics = toset(["order-events", "gmail-push", "crm-changes"])

  # Firestore collections of claim-once records; each document has expires_at (TTL policy).
  claim_collections = toset(["webhook_claims", "gmail_claims", "notification_claims"])

  main_py = file("${path.module}/../functions/main.py")

  # Every entry with the same shape, defaults filled in.
  fn = {
    for name, f in local.functions : name => {
      entry_point   = name
      service_name  = replace(name, "_", "-")
      description   = f.description
      event_topic   = try(f.event_topic, null)
      public        = try(f.public, false)
      schedule      = try(f.schedule, null)
      env           = tomap(try(f.env, {}))
      secrets       = tolist(try(f.secrets, []))
      publishes     = tolist(try(f.publishes, []))
      firestore     = try(f.firestore, false)
      bigquery      = try(f.bigquery, false)
      bigquery_read = try(f.bigquery_read, false)
      memory        = try(f.memory, "256M")
      cpu           = try(f.cpu, null)
      concurrency   = try(f.concurrency, 1)
      timeout       = try(f.timeout, 60)
      max_instances = try(f.max_instances, 10)
      min_instances = try(f.min_instances, 0)
    }
  }

  # Only what the code can serve: an entry point defined at the top level of main.py.
  deployed = { for name, f in local.fn : name => f if can(regex("(?m)^def ${name}\\(", local.main_py)) }

  event_functions     = { for name, f in local.deployed : name => f if f.event_topic != null }
  http_functions      = { for name, f in local.deployed : name => f if f.event_topic == null }
  public_functions    = { for name, f in local.http_functions : name => f if f.public }
  scheduled_functions = { for name, f in local.http_functions : name => f if f.schedule != null }

  # Secret Manager secret id of each secret environment variable, for every entry (deployed
  # or not), so operators can set values before the code lands.
  secret_ids = {
    for env in distinct(flatten([for f in local.fn : f.secrets])) : env => lower(replace(env, "_", "-"))
  }

  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
