# Firestore (native mode) for small hot state, with a TTL policy on the claim-once records.
resource "google_firestore_database" "default" {
  name                    = "(default)"
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy         = "ABANDON" # terraform destroy never deletes the data

  depends_on = [google_project_service.apis]
}

# Every collection of (default) whose documents carry expires_at (claims, the notifier's
# ledger, the sync's links: local.claim_collections); Firestore deletes them after that
# time, so the collections stay small without a cleanup job. The app's: app_claims_ttl.
resource "google_firestore_field" "claims_ttl" {
  for_each = local.claim_collections

  database   = google_firestore_database.default.name
  collection = each.key
  field      = "expires_at"

  ttl_config {}

  # No single-field index on a monotonically growing timestamp: it would only cost writes.
  index_config {}
}

# The managers' own database: order-form managers with their password hashes, and the list
# of managers the notifier tells (settings/managers). Functions get read access to it at most
# (functions.tf, an IAM condition per database), so a function reachable from the internet
# cannot rewrite a password hash or the list; the operator changes them with scripts/manager
# and scripts/managers (MANAGERS_DATABASE).
resource "google_firestore_database" "managers" {
  name                    = var.managers_database
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy         = "ABANDON"

  depends_on = [google_project_service.apis]
}

# The CRM app's own database (docs/app-state.md): its switches (sync_settings), notify
# preferences, installed shops, the orders list's change marker, and the app's sessions,
# claims, links, marks and audit. order_form may write this database and nothing of
# (default), so a compromised app cannot write the sync's documents (shopify_links, the
# sync's claims and cursors). Functions that read the switches or preferences get read
# access to it; scripts/migrate-app-state copies the old documents once.
resource "google_firestore_database" "app" {
  name                    = var.app_database
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy         = "ABANDON"

  depends_on = [google_project_service.apis]
}

# The order form's expiring documents (claims, sign-in throttle, draft links): TTL on
# expires_at, as claims_ttl does in (default).
resource "google_firestore_field" "app_claims_ttl" {
  for_each = local.app_claim_collections

  database   = google_firestore_database.app.name
  collection = each.key
  field      = "expires_at"

  ttl_config {}

  index_config {}
}
