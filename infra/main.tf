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
#   firestore     reads/writes Firestore documents  -> roles/datastore.user, (default) database only
#   managers_read reads the managers database        -> roles/datastore.viewer, that database only
#   app_state     "write" | "read": the CRM app's own database (crm-app: switches, preferences,
#                 installations, the change marker, the app's sessions and marks)
#                 -> roles/datastore.user | roles/datastore.viewer, that database only
#                 (docs/app-state.md); order_form has it and nothing of (default)
#   appends_to    CRM tables it streams rows into    -> a custom role (tables.get + updateData)
#                                                       on each of those tables, nothing else
#   reads_tables  CRM tables it queries              -> dataViewer on each table + jobUser
#   catalogue     queries the catalogue dataset     -> dataViewer on that dataset + jobUser
#                 (an authorized view of products: no other CRM data is reachable)
#   erases        the privacy job: DML on every CRM table -> dataEditor (dataset access) + jobUser
#   memory, cpu, concurrency, timeout, max_instances, min_instances: runtime sizing
locals {
  functions = {
    shopify_webhook = {
      description = "Shopify webhooks -> verified, de-duplicated canonical events on order-events."
      public      = true # Shopify cannot present Google credentials; the HMAC authenticates.
      env = {
        ORDER_EVENTS_TOPIC = google_pubsub_topic.topics["order-events"].name
        SHOPIFY_APP_IDS    = join(",", var.shopify_app_ids) # orders our app created (echoes of shopify_sync)
        # functions-framework's gunicorn threads (default 4 per vCPU): one per concurrent
        # request, so a burst's claims and publishes share RPCs (orderhub.groupcommit)
        THREADS = "16"
        # a body over this, or of no stated length, is answered 413 unread (orders are KBs)
        WEBHOOK_MAX_BODY_BYTES = "1048576"
        # the shops' inbound switches (sync_settings) are read at most this often per instance
        SYNC_SETTINGS_CACHE_SECONDS = "30"
        APP_DATABASE                = google_firestore_database.app.name # the switches
      }
      secrets     = ["SHOPIFY_WEBHOOK_SECRETS", "SHOPIFY_CLIENT_SECRET"]
      publishes   = ["order-events"] # one canonical event per accepted webhook
      firestore   = true             # claim-once record per delivery (shop + hash of topic and body)
      app_state   = "read"           # the shops' inbound switches (sync_settings)
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
        APP_DATABASE     = google_firestore_database.app.name
      }
      # insertAll into these tables only (orderhub.sinks.bigquery TABLE_OF_ENTITY + raw_events,
      # + sync_log: Shopify facts held by an inbound switch, and their release)
      appends_to = ["raw_events", "order_events", "refund_events", "customer_events", "product_events", "quarantine", "privacy_requests", "contact_events", "sync_log", "order_actions", "shop_events", "contact_identities", "customer_comments"]
      app_state  = "write" # the orders list's change marker, crm_changes/{shop} (orderhub.changes)
    }

    gmail_ingest = {
      description = "Gmail push (and scheduled catch-up) -> new order e-mails as canonical events."
      event_topic = "gmail-push"
      env = {
        ORDER_EVENTS_TOPIC = google_pubsub_topic.topics["order-events"].name
        GMAIL_PUSH_TOPIC   = google_pubsub_topic.topics["gmail-push"].name
        GMAIL_MAILBOX      = var.gmail_mailbox # notifications for other addresses are ignored
        APP_DATABASE       = google_firestore_database.app.name
      }
      secrets = ["GMAIL_CLIENT_ID", "GMAIL_CLIENT_SECRET", "GMAIL_REFRESH_TOKEN"]
      # one canonical event per parsed order e-mail; gmail-push: "go on" after a run's limit
      publishes = ["gmail-push", "order-events"]
      firestore = true    # checkpoint, lease and full-sync list per mailbox; per-message attempts
      app_state = "write" # a copy of the sync and watch times (gmail_status) for the app's /health
      timeout   = 120
    }

    gmail_watch_renew = {
      description = "Daily: renew the Gmail users.watch on gmail-push (a watch lasts 7 days)."
      schedule    = "gmail_watch_renew"
      env = {
        GMAIL_PUSH_TOPIC   = google_pubsub_topic.topics["gmail-push"].name
        GMAIL_MAILBOX      = var.gmail_mailbox
        ORDER_EVENTS_TOPIC = google_pubsub_topic.topics["order-events"].name
        APP_DATABASE       = google_firestore_database.app.name
      }
      secrets = ["GMAIL_CLIENT_ID", "GMAIL_CLIENT_SECRET", "GMAIL_REFRESH_TOKEN"]
      # after renewing the watch it runs a catch-up sync (which may ask for more on gmail-push)
      publishes = ["gmail-push", "order-events"]
      firestore = true    # watch expiration; checkpoint; per-message attempts
      app_state = "write" # a copy of the watch's expiry (gmail_status) for the app's /health
    }

    order_form = {
      description = "The managers' order form (and the Shopify draft-order 'send link' mode)."
      public      = true # managers sign in inside the app; the form carries a CSRF token
      env = {
        ORDER_EVENTS_TOPIC          = google_pubsub_topic.topics["order-events"].name
        SHOPIFY_SHOP_DOMAIN         = var.shop_domains[0]
        SHOPIFY_API_VERSION         = var.shopify_api_version
        BIGQUERY_DATASET            = google_bigquery_dataset.catalogue.dataset_id # products only
        MANAGERS_DATABASE           = google_firestore_database.managers.name
        APP_DATABASE                = google_firestore_database.app.name # all it writes
        ORDER_FORM_DEFAULT_COUNTRY  = var.order_form.default_country
        ORDER_FORM_CURRENCY         = var.order_form.currency
        ORDER_FORM_DELIVERY_METHODS = join(",", var.order_form.delivery_methods)
        ORDER_FORM_SESSION_HOURS    = tostring(var.order_form.session_hours)
        ORDER_FORM_BASE_PATH        = var.order_form.base_path
        # X-Forwarded-For entries our proxies append: 1 = Google's front end only (the
        # function's own URL); 2 behind an external Application Load Balancer
        ORDER_FORM_TRUSTED_HOPS = "1"
        # The CRM app's pages read the CRM tables in reads_tables below, bounded to this
        # many days back (partition filter); the catalogue stays its only other dataset.
        CRM_DATASET      = google_bigquery_dataset.crm.dataset_id
        CRM_HISTORY_DAYS = "400"
        # /health (owners): the mailbox whose watch it shows, and ManyChat to tell the owners
        GMAIL_MAILBOX    = var.gmail_mailbox
        MANYCHAT_API_URL = var.manychat_api_url
        # The install flow (/shopify/install): the scopes asked of another merchant's shop,
        # and where its webhooks go (the sync's scopes; docs/deploy.md)
        SHOPIFY_INSTALL_SCOPES = "read_orders,write_orders,read_customers,write_customers,read_products"
        SHOPIFY_WEBHOOK_URL    = var.shopify_webhook_url
        SHOP_TIME_ZONE         = var.shop_time_zone   # the pages show times in the shop's zone
        VAPID_PUBLIC_KEY       = var.vapid_public_key # phones subscribe to Web Push with it (public)
      }
      # The CRM's own Dev Dashboard app, scope write_draft_orders only (docs/deploy.md);
      # ORDER_FORM_SHOPIFY_TOKEN is the legacy static token of an old custom app.
      # MANYCHAT_TOKEN: /health's alerts to the owners. SHOPIFY_CLIENT_ID/SECRET: the install
      # flow for another merchant's shop exchanges its code with them (/shopify/callback); the
      # tokens it gets are stored for the sync, never used by the app (docs/deploy.md).
      secrets   = ["ORDER_FORM_SESSION_SECRET", "ORDER_FORM_SHOPIFY_CLIENT_ID", "ORDER_FORM_SHOPIFY_CLIENT_SECRET", "ORDER_FORM_SHOPIFY_TOKEN", "MANYCHAT_TOKEN", "SHOPIFY_CLIENT_ID", "SHOPIFY_CLIENT_SECRET"]
      publishes = ["order-events"] # one canonical event per submitted order
      # Nothing of (default): the sync's documents are out of its reach. Its own state (sign-in
      # throttle, sign-outs, claim-once per submission, links, marks, switches, preferences,
      # installations, the audit) is in the app's database (docs/app-state.md).
      app_state     = "write"
      managers_read = true # managers and password hashes: read, never written
      catalogue     = true # the product picker searches the catalogue's products view
      # The CRM app (orderhub.order_form.queries.TABLES_READ): dataViewer on each, nothing more
      reads_tables = ["order_events", "refund_events", "customer_events", "contact_events", "notifications", "quarantine", "sync_log", "raw_events", "order_actions", "contact_identities", "customer_comments", "product_events"]
      memory       = "512M" # scrypt at OWASP's cost (N=2^17, r=8) takes 128 MiB per sign-in
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
        MANAGERS_DATABASE    = google_firestore_database.managers.name
        APP_DATABASE         = google_firestore_database.app.name # the owner's notify_preferences, the phones' push subscriptions
        NOTIFY_FALLBACK_FROM = var.notifier_fallback_from         # e-mail when a manager's Messenger window closed
        VAPID_SUBJECT        = var.vapid_subject                  # Web Push: the contact push services see (RFC 8292)
      }
      # Gmail: the e-mail fallback, its own gmail.send-only grant. VAPID_PRIVATE_KEY: signs Web Push
      # to the managers' phones when their Messenger window closed (docs/notifier.md).
      secrets       = ["MANYCHAT_TOKEN", "GMAIL_CLIENT_ID", "GMAIL_CLIENT_SECRET", "GMAIL_SEND_REFRESH_TOKEN", "VAPID_PRIVATE_KEY"]
      firestore     = true              # claim per (event, manager)
      managers_read = true              # managers to notify (settings/managers): read only
      app_state     = "write"           # reads notify_preferences and push_subscriptions; forgets a phone the push service says is gone (404/410)
      appends_to    = ["notifications"] # every attempt to message a manager
    }

    shopify_reconcile = {
      description = "Scheduled: orders, customers, products updated since the last run (missed webhooks)."
      schedule    = "shopify_reconcile"
      env = {
        ORDER_EVENTS_TOPIC  = google_pubsub_topic.topics["order-events"].name
        SHOPIFY_SHOP_DOMAIN = var.shop_domains[0]
        SHOPIFY_API_VERSION = var.shopify_api_version
        BIGQUERY_DATASET    = google_bigquery_dataset.crm.dataset_id
        # the shops' inbound switches, read at most this often per run
        SYNC_SETTINGS_CACHE_SECONDS = "30"
        SHOPIFY_SHOPS               = join(",", var.shop_domains) # client credentials on each
        # orders our app created: the CRM's own orders, never imported a second time
        SHOPIFY_APP_IDS = join(",", var.shopify_app_ids)
        APP_DATABASE    = google_firestore_database.app.name
      }
      # The Dev Dashboard app (client credentials, the default), else legacy static tokens
      secrets   = ["SHOPIFY_CLIENT_ID", "SHOPIFY_CLIENT_SECRET", "SHOPIFY_ADMIN_TOKEN", "SHOPIFY_ADMIN_TOKENS"]
      publishes = ["order-events"] # the same canonical events the webhook would have sent
      firestore = true             # the updated_at cursor per shop and resource
      # the shops' inbound switches; installed shops' tokens, rotated under a lease (a write)
      app_state = "write"
      timeout   = 540
      # which version of each entity the CRM already holds (orderhub.sinks.bigquery VERSION_TABLES)
      reads_tables = ["order_events", "customer_events", "product_events", "refund_events"]
    }

    privacy_erase = {
      description = "Scheduled: carry out Shopify's customers/redact and shop/redact requests (erase PII, audit)."
      schedule    = "privacy_erase"
      env = {
        BIGQUERY_DATASET = google_bigquery_dataset.crm.dataset_id
        APP_DATABASE     = google_firestore_database.app.name
      }
      secrets   = ["PRIVACY_DIGEST_KEY"] # keys the digests of identifiers the audit keeps
      firestore = true                   # nulls the customer's e-mail and phone wherever a document holds them
      app_state = "write"                # likewise in the app's database (draft links, claims, marks)
      erases    = true                   # UPDATE/DELETE in every CRM table, appends the audit row
      timeout   = 540
    }

    chatbot = {
      description = "ManyChat External Request / Dynamic Block -> contacts on order-events; the bot's catalogue."
      public      = true # ManyChat cannot present Google credentials; the shared secret header authenticates
      env = {
        ORDER_EVENTS_TOPIC       = google_pubsub_topic.topics["order-events"].name
        SHOPIFY_SHOP_DOMAIN      = var.shop_domains[0]
        BIGQUERY_DATASET         = google_bigquery_dataset.catalogue.dataset_id # products only
        CHATBOT_SECRET_HEADER    = var.chatbot.secret_header
        CHATBOT_DEFAULT_COUNTRY  = var.chatbot.default_country
        CHATBOT_CURRENCY         = var.chatbot.currency
        CHATBOT_STORE_URL        = var.chatbot.store_url
        CHATBOT_PUBLIC_URL       = var.chatbot.public_url
        CHATBOT_CACHE_SECONDS    = tostring(var.chatbot.cache_seconds)
        CHATBOT_ATTRIBUTION_DAYS = tostring(var.chatbot.attribution_days)
        THREADS                  = "8" # concurrent requests share one Publish (groupcommit)
        # /contacts ignores the managers' own subscriber ids (settings/managers wins)
        MANAGERS_DATABASE = google_firestore_database.managers.name
        NOTIFY_MANAGERS   = jsonencode(var.notifier.managers)
      }
      managers_read = true # the managers' subscriber ids: read, never written
      secrets       = ["CHATBOT_SECRET"]
      publishes     = ["order-events"] # one contact.touched event per posted contact
      catalogue     = true             # the bot's cards come from the catalogue's products view (cached in memory)
      memory        = "512M"
      cpu           = "1"
      concurrency   = 8 # ManyChat waits a few seconds; one warm instance serves a burst
      timeout       = 10
    }

    shopify_sync = {
      description = "order-events -> orders, customers and consent from other sources into Shopify (two-way sync)."
      event_topic = "order-events"
      env = {
        ORDER_EVENTS_TOPIC  = google_pubsub_topic.topics["order-events"].name
        SHOPIFY_SHOP_DOMAIN = var.shop_domains[0]
        SHOPIFY_API_VERSION = var.shopify_api_version
        BIGQUERY_DATASET    = google_bigquery_dataset.crm.dataset_id
        # A write claim older than this belongs to a delivery that died; the next one
        # takes it over (and looks the order up in Shopify before creating it).
        SHOPIFY_SYNC_LEASE_SECONDS = "120"
        SHOPIFY_SHOPS              = join(",", var.shop_domains) # client credentials on each
        # A create that got no answer stays claimed this long (longer than Shopify's search
        # index lags), so no redelivery creates a second order; the echo confirms it sooner.
        SHOPIFY_SYNC_SETTLE_SECONDS = "120"
        APP_DATABASE                = google_firestore_database.app.name
      }
      # The Dev Dashboard app (client credentials, the default), else legacy static tokens;
      # PRIVACY_DIGEST_KEY: the key of the record ids in the logs (logs.keyed)
      secrets   = ["SHOPIFY_CLIENT_ID", "SHOPIFY_CLIENT_SECRET", "SHOPIFY_ADMIN_TOKEN", "SHOPIFY_ADMIN_TOKENS", "PRIVACY_DIGEST_KEY"]
      publishes = ["order-events"] # one alert per record Shopify refused for good
      firestore = true             # links CRM id -> Shopify id; order rate
      # per-shop switches (app/uninstalled turns outbound off); installed shops' tokens
      app_state  = "write"
      appends_to = ["sync_log"] # every outcome of the sync
      # One instance at a time: the shop's cost bucket and order rate are paced, not raced.
      max_instances = 1
      timeout       = 120
    }
  }

  # Topics the code uses. A dead-letter topic per consumer is added in pubsub.tf.
  topics = toset(["order-events", "gmail-push"])

  # Firestore collections whose documents carry expires_at (TTL policy in firestore.tf): the
  # claim-once records, the notifier's ledger and the sync's links in (default); the order
  # form's claims, sign-in throttle and links in the app's database.
  claim_collections     = toset(["webhook_claims", "gmail_attempts", "notification_claims", "shopify_links"])
  app_claim_collections = toset(["order_form_claims", "signin_throttle", "draft_links"])

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
      managers_read = try(f.managers_read, false)
      app_state     = try(f.app_state, null)
      appends_to    = tolist(try(f.appends_to, []))
      reads_tables  = tolist(try(f.reads_tables, []))
      catalogue     = try(f.catalogue, false)
      erases        = try(f.erases, false)
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
