# One Secret Manager secret per secret environment variable. Terraform creates the secret,
# never a value: the operator adds versions (docs/deploy.md), so no secret is in the repo or
# in the Terraform state.
resource "google_secret_manager_secret" "secrets" {
  for_each = local.secret_ids

  secret_id = each.value
  labels    = { app = "orderhub" }

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}
