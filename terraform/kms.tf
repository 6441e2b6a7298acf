# Optional customer-managed encryption (var.kms_key_name, off by default). Each service encrypts
# with its own Google-managed agent, which needs roles/cloudkms.cryptoKeyEncrypterDecrypter on the
# key: Cloud Storage, BigQuery, Pub/Sub, Artifact Registry, and for Dataflow jobs both the Dataflow
# agent and the Compute Engine agent (Dataflow docs, "Use customer-managed encryption keys").
# The key itself (and its location, which must suit every resource) is the organisation's.
data "google_storage_project_service_account" "gcs" {
  count = var.kms_key_name == null ? 0 : 1

  project = var.project_id

  depends_on = [google_project_service.enabled]
}

data "google_bigquery_default_service_account" "bq" {
  count = var.kms_key_name == null ? 0 : 1

  project = var.project_id

  depends_on = [google_project_service.enabled]
}

locals {
  kms_agents = var.kms_key_name == null ? {} : {
    storage          = "serviceAccount:${data.google_storage_project_service_account.gcs[0].email_address}"
    bigquery         = "serviceAccount:${data.google_bigquery_default_service_account.bq[0].email}"
    pubsub           = local.pubsub_agent_member
    artifactregistry = "serviceAccount:${google_project_service_identity.agents["artifactregistry.googleapis.com"].email}"
    dataflow         = "serviceAccount:${google_project_service_identity.agents["dataflow.googleapis.com"].email}"
    # Not the Compute API's primary agent, so google_project_service_identity cannot create it;
    # Compute Engine creates it when the API is enabled (apis.tf).
    compute = "serviceAccount:service-${data.google_project.this.number}@compute-system.iam.gserviceaccount.com"
  }
}

resource "google_kms_crypto_key_iam_member" "agents" {
  for_each = local.kms_agents

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}
