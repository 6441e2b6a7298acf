locals {
  # Written by `make schemas` from pipelines/tables.py: the tables the pipelines write, with
  # their partitioning and clustering, keyed by logical name (as in system.json).
  tables = jsondecode(file("${path.module}/schemas/tables.json"))

  # Insight views: deduplicated base views first, then the insights built on them.
  base_views    = fileset("${path.module}/../views/base", "*.sql")
  insight_views = fileset("${path.module}/../views/insights", "*.sql")
  # The SQL's ${...} placeholders: where the tables are, plus the insight tunables from
  # system.json (thresholds, windows, weights), so the views read the one source of truth too.
  # The jobs' windowing too: the *_by_window_current views compute the same windows from the facts.
  view_variables = merge(try(local.system.insights, {}), {
    project                  = var.project_id
    dataset                  = local.system.bigquery.dataset
    window_seconds           = var.window_seconds
    allowed_lateness_seconds = var.allowed_lateness_seconds
  })
}

resource "google_bigquery_dataset" "analytics" {
  #checkov:skip=CKV_GCP_81:Customer-managed encryption is optional (var.kms_key_name, off by default); Google-managed encryption otherwise
  project     = var.project_id
  dataset_id  = local.system.bigquery.dataset
  location    = local.bigquery_location
  description = "Order and shipping facts, real-time aggregates, dead-lettered events and insight views."
  labels      = local.labels

  delete_contents_on_destroy = !var.deletion_protection

  # Optional CMEK (var.kms_key_name): the default for every table created in the dataset.
  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.agents]
}

resource "google_bigquery_table" "tables" {
  #checkov:skip=CKV_GCP_80:Customer-managed encryption is optional (var.kms_key_name, the dataset default, off by default)
  for_each = local.tables

  project     = var.project_id
  dataset_id  = google_bigquery_dataset.analytics.dataset_id
  table_id    = each.value.table_id
  description = each.value.description
  labels      = local.labels
  schema      = file("${path.module}/schemas/${each.value.schema_file}")
  clustering  = each.value.clustering

  time_partitioning {
    type  = each.value.time_partitioning.type
    field = each.value.time_partitioning.field
  }

  deletion_protection = var.deletion_protection
}

resource "google_bigquery_table" "base_views" {
  #checkov:skip=CKV_GCP_80:Customer-managed encryption is optional (var.kms_key_name, the dataset default, off by default)
  for_each = local.base_views

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = trimsuffix(each.value, ".sql")
  description         = "Deduplicated base view (views/base/${each.value})."
  labels              = local.labels
  deletion_protection = var.deletion_protection

  view {
    query          = templatefile("${path.module}/../views/base/${each.value}", local.view_variables)
    use_legacy_sql = false
  }

  # A view is validated against its tables when it is created.
  depends_on = [google_bigquery_table.tables]
}

resource "google_bigquery_table" "insight_views" {
  #checkov:skip=CKV_GCP_80:Customer-managed encryption is optional (var.kms_key_name, the dataset default, off by default)
  for_each = local.insight_views

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = trimsuffix(each.value, ".sql")
  description         = "Insight view (views/insights/${each.value})."
  labels              = local.labels
  deletion_protection = var.deletion_protection

  view {
    query          = templatefile("${path.module}/../views/insights/${each.value}", local.view_variables)
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.base_views]
}
