# One service account per role, each bound on the narrowest resource that works. Project-level
# bindings are used only where the role has no narrower resource (Dataflow, Firestore, Eventarc,
# Logging). No primitive roles, no public members.

resource "google_service_account" "dataflow_worker" {
  project      = var.project_id
  account_id   = "ecommerce-dataflow-worker"
  display_name = "Dataflow workers of the ecommerce analytics pipelines"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "relauncher" {
  project      = var.project_id
  account_id   = "ecommerce-relauncher"
  display_name = "Relauncher function: relaunches failed streaming jobs"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "workflow" {
  project      = var.project_id
  account_id   = "ecommerce-first-launch"
  display_name = "First-launch workflow: starts both streaming jobs once"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "ecommerce-relauncher-trigger"
  display_name = "Eventarc trigger identity: delivers Dataflow job events to the relauncher"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "ecommerce-builder"
  display_name = "Cloud Build identity: relauncher build and flex-template builds"

  depends_on = [google_project_service.enabled]
}

locals {
  worker_member     = "serviceAccount:${google_service_account.dataflow_worker.email}"
  relauncher_member = "serviceAccount:${google_service_account.relauncher.email}"
  workflow_member   = "serviceAccount:${google_service_account.workflow.email}"
  trigger_member    = "serviceAccount:${google_service_account.trigger.email}"
  builder_member    = "serviceAccount:${google_service_account.builder.email}"

  # Roles that exist only at project level.
  project_roles = {
    worker_dataflow      = { member = local.worker_member, role = "roles/dataflow.worker" }
    relauncher_dataflow  = { member = local.relauncher_member, role = "roles/dataflow.developer" }
    relauncher_firestore = { member = local.relauncher_member, role = "roles/datastore.user" }
    workflow_dataflow    = { member = local.workflow_member, role = "roles/dataflow.developer" }
    workflow_firestore   = { member = local.workflow_member, role = "roles/datastore.user" }
    workflow_logging     = { member = local.workflow_member, role = "roles/logging.logWriter" }
    trigger_eventarc     = { member = local.trigger_member, role = "roles/eventarc.eventReceiver" }
    builder_logging      = { member = local.builder_member, role = "roles/logging.logWriter" }
  }
}

resource "google_project_iam_member" "roles" {
  #checkov:skip=CKV_GCP_49:roles/dataflow.developer is the documented role for launching and reading Dataflow jobs and exists only at project level; acting as the worker account is granted separately, on that one account
  for_each = local.project_roles

  project = var.project_id
  role    = each.value.role
  member  = each.value.member
}

# Dataflow workers: read their own subscription only (viewer lets Dataflow read its metadata).
resource "google_pubsub_subscription_iam_member" "worker_subscriber" {
  for_each = google_pubsub_subscription.pipeline

  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.worker_member
}

resource "google_pubsub_subscription_iam_member" "worker_viewer" {
  for_each = google_pubsub_subscription.pipeline

  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.viewer"
  member       = local.worker_member
}

# Dataflow workers: write facts, aggregates and dead letters into this dataset only.
resource "google_bigquery_dataset_iam_member" "worker_data_editor" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.worker_member
}

# Dataflow workers: staging and temp files in this bucket only.
resource "google_storage_bucket_iam_member" "worker_object_admin" {
  bucket = google_storage_bucket.pipelines.name
  role   = "roles/storage.objectAdmin"
  member = local.worker_member
}

# Dataflow workers (and the flex-template launcher VM, which runs as them) pull the images.
resource "google_artifact_registry_repository_iam_member" "worker_reader" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = local.worker_member
}

# Launchers (relauncher, workflow) read the template specs and may run jobs as the worker account
# (launching a job with serviceAccountEmail needs iam.serviceAccounts.actAs on it), nothing else.
resource "google_storage_bucket_iam_member" "launcher_template_reader" {
  for_each = {
    relauncher = local.relauncher_member
    workflow   = local.workflow_member
  }

  bucket = google_storage_bucket.pipelines.name
  role   = "roles/storage.objectViewer"
  member = each.value
}

resource "google_service_account_iam_member" "launcher_act_as_worker" {
  for_each = {
    relauncher = local.relauncher_member
    workflow   = local.workflow_member
  }

  service_account_id = google_service_account.dataflow_worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

# Eventarc trigger: invoke the relauncher's Cloud Run service, nothing else.
resource "google_cloud_run_v2_service_iam_member" "trigger_invoker" {
  project  = var.project_id
  location = google_cloudfunctions2_function.relauncher.location
  name     = google_cloudfunctions2_function.relauncher.service_config[0].service
  role     = "roles/run.invoker"
  member   = local.trigger_member
}

# The Pub/Sub service agent mints the trigger's OIDC tokens for the push delivery (needed
# explicitly in projects whose Pub/Sub agent predates April 2021); bound on that account only.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  depends_on = [google_project_service.enabled]
}

# Builds (the function's, and `make templates` when run with --service-account): read sources,
# write template specs, in this bucket only; push images to our repository only.
resource "google_storage_bucket_iam_member" "builder_objects" {
  bucket = google_storage_bucket.pipelines.name
  role   = "roles/storage.objectAdmin"
  member = local.builder_member
}

resource "google_artifact_registry_repository_iam_member" "builder_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = local.builder_member
}
