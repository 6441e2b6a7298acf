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
    relauncher_launch    = { member = local.relauncher_member, role = google_project_iam_custom_role.launcher["flex_launcher"].id }
    relauncher_firestore = { member = local.relauncher_member, role = "roles/datastore.user" }
    workflow_dataflow    = { member = local.workflow_member, role = "roles/dataflow.developer" }
    workflow_launch      = { member = local.workflow_member, role = google_project_iam_custom_role.launcher["flex_launcher"].id }
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

# The bucket holds what every relaunch starts from (templates/) beside scratch space, so each
# account gets object rights under its own prefixes only: IAM conditions on the object name, and
# on the listing prefix for storage.objects.list, which is checked on the bucket (IAM Conditions
# attribute reference, https://cloud.google.com/iam/docs/conditions-attribute-reference: an
# object's resource.name is "projects/_/buckets/BUCKET/objects/NAME"; the API attribute
# storage.googleapis.com/objectListPrefix is the prefix of a list request). Written from that
# reference, not tried against a live bucket here (no cloud access).
locals {
  bucket_path = "projects/_/buckets/${google_storage_bucket.pipelines.name}"
  bucket_prefixes = {
    worker   = ["temp/", "staging/"]     # Dataflow scratch and staged files
    builder  = ["templates/", "source/"] # template specs written, build sources read
    launcher = ["templates/"]            # template specs read
  }
  bucket_prefix_condition = {
    for who, prefixes in local.bucket_prefixes : who => join(" || ", concat(
      [for prefix in prefixes : "resource.name.startsWith(\"${local.bucket_path}/objects/${prefix}\")"],
      [for prefix in prefixes : "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"${prefix}\")"],
    ))
  }
}

# Dataflow workers (and the flex-template launcher VM, which runs as them): temp/ and staging/
# only. They can neither read nor rewrite templates/ or the function's source.
resource "google_storage_bucket_iam_member" "worker_object_admin" {
  bucket = google_storage_bucket.pipelines.name
  role   = "roles/storage.objectAdmin"
  member = local.worker_member

  condition {
    title       = "scratch-prefixes-only"
    description = "Objects under ${join(", ", local.bucket_prefixes.worker)} only."
    expression  = local.bucket_prefix_condition.worker
  }
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

  condition {
    title       = "template-specs-only"
    description = "Objects under templates/ only."
    expression  = local.bucket_prefix_condition.launcher
  }
}

# roles/dataflow.developer does not hold everything a flex-template launch checks: Google
# documents roles/dataflow.admin as the "minimal role for creating and managing dataflow jobs"
# (https://cloud.google.com/iam/docs/roles-permissions/dataflow), and what admin has beyond
# developer for a launch from an existing template and bucket is compute.machineTypes.get (the
# worker machine type is validated) and storage.buckets.get (the staging/temp bucket is checked).
# The rest of admin (Cloud Build, KMS key handles, storage.objects.*) is not needed here: objects
# are granted per prefix above. Not smoke-tested against a real project (no cloud access here).
locals {
  launcher_custom_roles = {
    flex_launcher = {
      role_id     = "ecommerceFlexLauncher"
      title       = "Ecommerce flex-template launcher (what dataflow.developer lacks)"
      description = "compute.machineTypes.get: the launch validates the workers' machine type. Bound at project level."
      permissions = ["compute.machineTypes.get"]
    }
    bucket_metadata_reader = {
      role_id     = "ecommerceBucketMetadataReader"
      title       = "Ecommerce bucket metadata reader"
      description = "storage.buckets.get: the launch checks the staging and temp bucket. Bound on the pipelines bucket only."
      permissions = ["storage.buckets.get"]
    }
  }
}

resource "google_project_iam_custom_role" "launcher" {
  for_each = local.launcher_custom_roles

  project     = var.project_id
  role_id     = each.value.role_id
  title       = each.value.title
  description = each.value.description
  permissions = each.value.permissions
  stage       = "GA"

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_iam_member" "launcher_bucket_metadata" {
  for_each = {
    relauncher = local.relauncher_member
    workflow   = local.workflow_member
  }

  bucket = google_storage_bucket.pipelines.name
  role   = google_project_iam_custom_role.launcher["bucket_metadata_reader"].id
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
  member             = local.pubsub_agent_member
}

# Builds (the function's, and `make templates` when run with --service-account): read sources
# under source/, write template specs under templates/, in this bucket only; push images to our
# repository only.
resource "google_storage_bucket_iam_member" "builder_objects" {
  bucket = google_storage_bucket.pipelines.name
  role   = "roles/storage.objectAdmin"
  member = local.builder_member

  condition {
    title       = "build-prefixes-only"
    description = "Objects under ${join(", ", local.bucket_prefixes.builder)} only."
    expression  = local.bucket_prefix_condition.builder
  }
}

# Cloud Functions 2nd gen copies storage_source into its own bucket
# gcf-v2-sources-<project number>-<region> and the build fetches it from there, so a custom build
# account needs Storage Object Viewer on that bucket ("Access to bucket gcf-v2-sources-... denied":
# hashicorp/terraform-provider-google#20571). The bucket is created by Cloud Functions during the
# first deploy, so the grant is project-level, conditioned on exactly that bucket.
locals {
  function_sources_bucket = "projects/_/buckets/gcf-v2-sources-${data.google_project.this.number}-${var.region}"
}

resource "google_project_iam_member" "builder_function_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = local.builder_member

  condition {
    title       = "gcf-v2-sources-bucket-only"
    description = "The bucket Cloud Functions copies the relauncher's source into, and its objects."
    expression  = "resource.name == \"${local.function_sources_bucket}\" || resource.name.startsWith(\"${local.function_sources_bucket}/objects/\")"
  }
}

resource "google_artifact_registry_repository_iam_member" "builder_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = local.builder_member
}
