# Templates (templates/<pipeline>.json), staging files, temp files and the relauncher's source.
resource "google_storage_bucket" "pipelines" {
  #checkov:skip=CKV_GCP_62:Holds only build artefacts and Dataflow scratch files; access is audited by Cloud Audit Logs, and a log bucket would itself need a log bucket
  project  = var.project_id
  name     = local.bucket_name
  location = var.region
  labels   = local.labels

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection

  versioning {
    enabled = true
  }

  # Optional CMEK (var.kms_key_name); the Cloud Storage agent needs encrypter/decrypter (kms.tf).
  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  # Dataflow's temp files are worthless after the job that wrote them.
  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = ["temp/"]
    }
    action {
      type = "Delete"
    }
  }

  # Versioning keeps overwritten template specs for a rollback; old versions go after 30 days.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.agents]
}

# Flex-template launcher and SDK images, and the relauncher's build image.
resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Customer-managed encryption is optional (var.kms_key_name, off by default); Google-managed encryption otherwise
  project       = var.project_id
  location      = var.region
  repository_id = var.artifact_repository_id
  format        = "DOCKER"
  description   = "Flex-template images of the ecommerce analytics pipelines and the relauncher build."
  labels        = local.labels
  kms_key_name  = var.kms_key_name

  # Keep the ten most recent images per package, delete older untagged ones.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  cleanup_policies {
    id     = "delete-old-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.agents]
}
