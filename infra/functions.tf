# The Cloud Functions (2nd gen, Python 3.11), their deploy bundle, identities and roles.

# ------------------------------------------------------------------ deploy bundle
# functions/ (main.py at the root of the zip) plus requirements.txt. The archive provider
# writes entries in sorted order with a zero modification time, so the same files give the
# same bytes, the same object name and an empty plan. No timestamp() anywhere.
locals {
  functions_dir = "${path.module}/../functions"
  bundle_files = merge(
    {
      for f in fileset(local.functions_dir, "**") : f => "${local.functions_dir}/${f}"
      if !strcontains(f, "__pycache__") && !endswith(f, ".pyc")
    },
    { "requirements.txt" = "${path.module}/../requirements.txt" },
  )
}

data "archive_file" "bundle" {
  type        = "zip"
  output_path = "${path.module}/build/functions.zip"

  dynamic "source" {
    for_each = local.bundle_files
    content {
      content  = file(source.value)
      filename = source.key
    }
  }
}

resource "google_storage_bucket" "source" {
  name                        = "${var.project}-orderhub-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # holds only bundles that can be rebuilt from git

  depends_on = [google_project_service.apis]
}

# Named by content hash: a new object (and a new build) only when the code changes.
resource "google_storage_bucket_object" "bundle" {
  name   = "functions-${data.archive_file.bundle.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.bundle.output_path
}

# ------------------------------------------------------------------ build identity
# Cloud Build builds each function's image as this account instead of a default one.
resource "google_service_account" "build" {
  account_id   = "orderhub-build"
  display_name = "OrderHub: builds the functions' images"
}

# Why: logging.logWriter, so Cloud Build can write the build log; artifactregistry.writer, to
# push the built image to the gcf-artifacts repository Cloud Functions creates.
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])

  project = var.project
  role    = each.key
  member  = "serviceAccount:${google_service_account.build.email}"
}

# Why: the build reads the bundle; only this bucket.
resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

# ------------------------------------------------------------------ runtime identities
# One service account per function; it holds only the roles its entry asks for.
resource "google_service_account" "fn" {
  for_each = local.deployed

  account_id   = "fn-${each.value.service_name}"
  display_name = "OrderHub function ${each.key}"
  description  = each.value.description
}

# Why: publishes its canonical events ("publishes" in its entry); only on those topics.
resource "google_pubsub_topic_iam_member" "fn_publishes" {
  for_each = {
    for pair in flatten([
      for name, f in local.deployed : [for t in f.publishes : { key = "${name}/${t}", fn = name, topic = t }]
    ]) : pair.key => pair
  }

  topic  = google_pubsub_topic.topics[each.value.topic].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.fn[each.value.fn].email}"
}

# Why: claim-once records, checkpoints and sync state in Firestore ("firestore" in its entry).
# Firestore has no per-collection IAM; datastore.user is the smallest role that reads and
# writes documents (no index or database administration), and the condition keeps it to the
# (default) database: the managers database (managers, password hashes, who is notified) is
# out of reach of every function, the internet-facing ones included.
resource "google_project_iam_member" "fn_firestore" {
  for_each = { for name, f in local.deployed : name => f if f.firestore }

  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.fn[each.key].email}"

  condition {
    title       = "default-database-only"
    description = "Documents of the (default) database; not the managers database."
    expression  = "resource.name == \"projects/${var.project}/databases/(default)\""
  }
}

# Why: reads the managers database ("managers_read" in its entry): the order form checks
# sign-ins against it, the notifier reads whom to tell. Read-only and that database only;
# managers are changed by the operator (scripts/manager, scripts/managers), never by a function.
resource "google_project_iam_member" "fn_reads_managers" {
  for_each = { for name, f in local.deployed : name => f if f.managers_read }

  project = var.project
  role    = "roles/datastore.viewer"
  member  = "serviceAccount:${google_service_account.fn[each.key].email}"

  condition {
    title       = "managers-database-read"
    description = "Read the managers database only."
    expression  = "resource.name == \"projects/${var.project}/databases/${google_firestore_database.managers.name}\""
  }
}

# Why: writes the CRM app's own database ("app_state" = "write"): order_form keeps all its
# state there (and holds nothing of (default)); crm_writer moves the change marker; the
# sync and reconciliation switch a shop off on uninstall and rotate installed shops' tokens;
# gmail_ingest copies the mailbox's sync times for /health; the privacy job erases there too.
resource "google_project_iam_member" "fn_app_state_write" {
  for_each = { for name, f in local.deployed : name => f if f.app_state == "write" }

  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.fn[each.key].email}"

  condition {
    title       = "app-database-only"
    description = "Documents of the CRM app's database only."
    expression  = "resource.name == \"projects/${var.project}/databases/${google_firestore_database.app.name}\""
  }
}

# Why: reads the CRM app's database ("app_state" = "read"): the webhook reads the shops'
# inbound switches, the notifier the owner's choice of who is told of what. Read only.
resource "google_project_iam_member" "fn_app_state_read" {
  for_each = { for name, f in local.deployed : name => f if f.app_state == "read" }

  project = var.project
  role    = "roles/datastore.viewer"
  member  = "serviceAccount:${google_service_account.fn[each.key].email}"

  condition {
    title       = "app-database-read"
    description = "Read the CRM app's database only."
    expression  = "resource.name == \"projects/${var.project}/databases/${google_firestore_database.app.name}\""
  }
}

# A role with exactly what streaming rows into a table takes: insertAll
# (bigquery.tables.updateData) and reading the table's schema (bigquery.tables.get). No
# query, no read of rows, no delete.
resource "google_project_iam_custom_role" "table_appender" {
  role_id     = "orderhubTableAppender"
  title       = "OrderHub: append rows to a table"
  description = "Stream rows into one BigQuery table and read its schema; nothing else."
  permissions = ["bigquery.tables.get", "bigquery.tables.updateData"]
}

# Why: appends rows to the CRM tables its entry lists ("appends_to"), and only to those:
# crm_writer to the event tables, notifier to notifications. Granted per table, so no
# dataset-level grant exists that could drop the catalogue's authorized view (bigquery.tf).
resource "google_bigquery_table_iam_member" "fn_appends" {
  for_each = {
    for pair in flatten([
      for name, f in local.deployed : [for t in f.appends_to : { key = "${name}/${t}", fn = name, table = t }]
    ]) : pair.key => pair
  }

  project    = var.project
  dataset_id = google_bigquery_dataset.crm.dataset_id
  table_id   = google_bigquery_table.tables[each.value.table].table_id
  role       = google_project_iam_custom_role.table_appender.name
  member     = "serviceAccount:${google_service_account.fn[each.value.fn].email}"
}

# Why: queries the CRM tables its entry lists ("reads_tables"): reconciliation's "which
# version do we hold?". Read-only, those tables only.
resource "google_bigquery_table_iam_member" "fn_reads" {
  for_each = {
    for pair in flatten([
      for name, f in local.deployed : [for t in f.reads_tables : { key = "${name}/${t}", fn = name, table = t }]
    ]) : pair.key => pair
  }

  project    = var.project
  dataset_id = google_bigquery_dataset.crm.dataset_id
  table_id   = google_bigquery_table.tables[each.value.table].table_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.fn[each.value.fn].email}"
}

# Why: the order form's product picker reads the catalogue ("catalogue"): a dataset
# holding only an authorized view of products. Orders, customers and raw payloads stay out
# of reach of the internet-facing form.
resource "google_bigquery_dataset_iam_member" "fn_reads_catalogue" {
  for_each = { for name, f in local.deployed : name => f if f.catalogue }

  dataset_id = google_bigquery_dataset.catalogue.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.fn[each.key].email}"
}

# Why: the privacy job ("erases") nulls and deletes a customer's personal data with DML in
# every CRM table, tables added later included (it lists them), and appends its audit row.
# An entry of the dataset's access list (not dataset IAM, which would drop the authorized
# view); the one account that may rewrite rows. WRITER is roles/bigquery.dataEditor: the API
# stores the basic name, so the predefined one would show a diff after every apply.
resource "google_bigquery_dataset_access" "fn_erases" {
  for_each = { for name, f in local.deployed : name => f if f.erases }

  dataset_id    = google_bigquery_dataset.crm.dataset_id
  role          = "WRITER"
  user_by_email = google_service_account.fn[each.key].email
}

# Why: running queries needs query jobs in the project (no data access by itself).
resource "google_project_iam_member" "fn_bigquery_jobs" {
  for_each = {
    for name, f in local.deployed : name => f
    if length(f.reads_tables) > 0 || f.catalogue || f.erases
  }

  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.fn[each.key].email}"
}

# Why: reads its own secrets ("secrets" in its entry); only those secrets.
resource "google_secret_manager_secret_iam_member" "fn_secrets" {
  for_each = {
    for pair in flatten([
      for name, f in local.deployed : [for s in f.secrets : { key = "${name}/${s}", fn = name, env = s }]
    ]) : pair.key => pair
  }

  secret_id = google_secret_manager_secret.secrets[each.value.env].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.fn[each.value.fn].email}"
}

# ------------------------------------------------------------------ the functions
resource "google_cloudfunctions2_function" "fn" {
  for_each = local.deployed

  name        = each.value.service_name
  location    = var.region
  description = each.value.description

  build_config {
    runtime         = "python311"
    entry_point     = each.key
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.bundle.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    max_instance_request_concurrency = each.value.concurrency
    timeout_seconds                  = each.value.timeout
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    service_account_email            = google_service_account.fn[each.key].email
    # Only public functions (Shopify, browsers) take traffic from the internet. Event
    # functions (Eventarc) and scheduled ones (Cloud Scheduler, same project) are internal.
    ingress_settings               = each.value.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true

    environment_variables = merge(each.value.env, { GOOGLE_CLOUD_PROJECT = var.project })

    dynamic "secret_environment_variables" {
      for_each = toset(each.value.secrets)
      content {
        key        = secret_environment_variables.value
        project_id = var.project
        secret     = google_secret_manager_secret.secrets[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }
  }

  dynamic "event_trigger" {
    for_each = each.value.event_topic == null ? [] : [each.value.event_topic]
    content {
      trigger_region        = var.region
      event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
      pubsub_topic          = google_pubsub_topic.topics[event_trigger.value].id
      retry_policy          = "RETRY_POLICY_RETRY" # a raised exception means: deliver again
      service_account_email = google_service_account.trigger.email
    }
  }

  depends_on = [
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_reads_source,
    google_secret_manager_secret_iam_member.fn_secrets,
  ]
}

# ------------------------------------------------------------------ who may invoke
# The identity of the Eventarc triggers' push subscriptions.
resource "google_service_account" "trigger" {
  account_id   = "orderhub-trigger"
  display_name = "OrderHub: Eventarc pushes Pub/Sub messages to the event functions"
}

# Why: Pub/Sub mints the OIDC token of each push as this account.
resource "google_service_account_iam_member" "pubsub_mints_trigger_tokens" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# Why: the trigger delivers messages to the event functions; only those services.
resource "google_cloud_run_v2_service_iam_member" "trigger_invokes" {
  for_each = local.event_functions

  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

# Why: Shopify and managers' browsers carry no Google identity; these functions authenticate
# each request themselves (webhook HMAC; the form's sign-in and CSRF token).
resource "google_cloud_run_v2_service_iam_member" "public_invokes" {
  for_each = local.public_functions

  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
