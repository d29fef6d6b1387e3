# Firestore (native mode) for small hot state, with a TTL policy on the claim-once records.
resource "google_firestore_database" "default" {
  name                    = "(default)"
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy         = "ABANDON" # terraform destroy never deletes the data

  depends_on = [google_project_service.apis]
}

# Claim records carry expires_at (orderhub.stores.FirestoreClaims); Firestore deletes them
# after that time, so the collections stay small without a cleanup job.
resource "google_firestore_field" "claims_ttl" {
  for_each = local.claim_collections

  database   = google_firestore_database.default.name
  collection = each.key
  field      = "expires_at"

  ttl_config {}

  # No single-field index on a monotonically growing timestamp: it would only cost writes.
  index_config {}
}
