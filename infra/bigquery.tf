# The CRM dataset: tables from schemas/bigquery/*.json as listed in schemas/dataset.json (the
# files devstack/dataset.py and the tests use too), and the analysts' views from
# schemas/views/*.sql with ${project}, ${dataset} and ${timezone} (the shop's) filled in.
locals {
  schemas_dir = "${path.module}/../schemas"
  manifest    = jsondecode(file("${local.schemas_dir}/dataset.json"))
  view_sql    = { for v in local.manifest.views : v => file("${local.schemas_dir}/views/${v}.sql") }

  # Views that read other views must be created after them. Base views read only tables;
  # derived views read base views (the manifest lists views in that order).
  view_deps = {
    for v, sql in local.view_sql : v => [for other in local.manifest.views : other if other != v && strcontains(sql, "$${dataset}.${other}`")]
  }
  base_views    = toset([for v, deps in local.view_deps : v if length(deps) == 0])
  derived_views = toset([for v, deps in local.view_deps : v if length(deps) > 0])
}

resource "google_bigquery_dataset" "crm" {
  dataset_id    = var.dataset_id
  friendly_name = "OrderHub CRM"
  description   = "Every order of the shop, append-only; read the views (orders, customers, ...)."
  location      = var.bigquery_location

  depends_on = [google_project_service.apis]
}

resource "google_bigquery_table" "tables" {
  for_each = local.manifest.tables

  dataset_id          = google_bigquery_dataset.crm.dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = file("${local.schemas_dir}/bigquery/${each.key}.json")
  clustering          = each.value.clustering
  deletion_protection = var.deletion_protection

  time_partitioning {
    type  = "DAY"
    field = each.value.partition_field
  }
}

resource "google_bigquery_table" "base_views" {
  for_each = local.base_views

  dataset_id          = google_bigquery_dataset.crm.dataset_id
  table_id            = each.key
  deletion_protection = false # a view holds no data; it is recreated from its SQL

  view {
    query          = templatefile("${local.schemas_dir}/views/${each.key}.sql", { project = var.project, dataset = google_bigquery_dataset.crm.dataset_id, timezone = var.shop_time_zone })
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.tables]
}

resource "google_bigquery_table" "derived_views" {
  for_each = local.derived_views

  dataset_id          = google_bigquery_dataset.crm.dataset_id
  table_id            = each.key
  deletion_protection = false

  view {
    query          = templatefile("${local.schemas_dir}/views/${each.key}.sql", { project = var.project, dataset = google_bigquery_dataset.crm.dataset_id, timezone = var.shop_time_zone })
    use_legacy_sql = false
  }

  lifecycle {
    precondition {
      condition     = alltrue([for d in local.view_deps[each.key] : contains(local.base_views, d)])
      error_message = "View ${each.key} reads a derived view; add a third tier of view resources."
    }
  }

  depends_on = [google_bigquery_table.base_views]
}

# ------------------------------------------------------------------ the catalogue
# The order form faces the internet and needs only the product picker's data. It reads this
# dataset, which holds one authorized view of the CRM's products view: a query through it sees
# products and nothing else, and the form's account holds no grant on the CRM dataset at all.
resource "google_bigquery_dataset" "catalogue" {
  dataset_id    = var.catalogue_dataset_id
  friendly_name = "OrderHub catalogue"
  description   = "Products for the order form: an authorized view of the CRM's products view."
  location      = var.bigquery_location

  depends_on = [google_project_service.apis]
}

resource "google_bigquery_table" "catalogue_products" {
  dataset_id          = google_bigquery_dataset.catalogue.dataset_id
  table_id            = "products"
  deletion_protection = false

  view {
    query          = "SELECT * FROM `${var.project}.${google_bigquery_dataset.crm.dataset_id}.products`"
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.base_views]
}

# The CRM dataset authorizes the catalogue's view to read it. Grants on the CRM dataset are
# this and per-table IAM only (functions.tf): a google_bigquery_dataset_iam_* resource on it
# would rewrite the dataset's access list and drop this authorization.
resource "google_bigquery_dataset_access" "catalogue_view" {
  dataset_id = google_bigquery_dataset.crm.dataset_id

  view {
    project_id = var.project
    dataset_id = google_bigquery_dataset.catalogue.dataset_id
    table_id   = google_bigquery_table.catalogue_products.table_id
  }
}
