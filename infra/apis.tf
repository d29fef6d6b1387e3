# APIs OrderHub uses. Left enabled on destroy: other things in the project may need them.
locals {
  apis = toset([
    "artifactregistry.googleapis.com", # images Cloud Functions builds
    "bigquery.googleapis.com",         # the CRM
    "cloudbuild.googleapis.com",       # builds the functions
    "cloudfunctions.googleapis.com",   # the functions
    "cloudscheduler.googleapis.com",   # watch renewal, catch-up, reconciliation
    "eventarc.googleapis.com",         # Pub/Sub triggers of the event functions
    "firestore.googleapis.com",        # claims, checkpoints, sync links, settings
    "gmail.googleapis.com",            # reading the order mailbox, users.watch
    "iam.googleapis.com",              # service accounts
    "iamcredentials.googleapis.com",   # OIDC tokens for push and scheduler calls
    "logging.googleapis.com",          # function and build logs
    "pubsub.googleapis.com",           # the event bus
    "run.googleapis.com",              # 2nd gen functions run on Cloud Run
    "secretmanager.googleapis.com",    # secrets
    "storage.googleapis.com",          # deploy bundles
  ])
}

resource "google_project_service" "apis" {
  for_each = local.apis

  project            = var.project
  service            = each.key
  disable_on_destroy = false
}
