locals {
  # The one source of truth: names and relaunch policy (config/system.json).
  system    = jsondecode(file("${path.module}/../config/system.json"))
  pipelines = local.system.pipelines

  labels = merge(var.labels, { system = "ecommerce-analytics" })

  bucket_name        = coalesce(var.bucket_name, "${var.project_id}-ecommerce-analytics")
  firestore_location = coalesce(var.firestore_location, var.region)
  bigquery_location = coalesce(var.bigquery_location,
    startswith(var.region, "europe-") ? "EU" : startswith(var.region, "us-") ? "US" : var.region
  )
  subnetwork = var.subnetwork_self_link != null ? var.subnetwork_self_link : google_compute_subnetwork.dataflow[0].self_link

  # Images built by `make templates` (pipelines/cloudbuild.yaml), one per pipeline, referenced by
  # digest: a tag can move, a digest cannot, so a relaunch starts exactly the code of the job it
  # replaces. `make templates` records the digests in images.auto.tfvars.json. Before that there is
  # none: the all-zero digest names no image, so a launch fails loudly instead of running
  # something unknown, and the check "images_recorded" warns on every plan.
  unbuilt_digest = "sha256:${join("", [for i in range(64) : "0"])}"
  images = {
    for name in keys(local.pipelines) :
    name => "${var.region}-docker.pkg.dev/${var.project_id}/${var.artifact_repository_id}/${name}@${lookup(var.image_digests, name, local.unbuilt_digest)}"
  }

  relauncher_name = local.system.relauncher.function_name
  workflow_name   = "ecommerce-first-launch"

  relauncher_config = module.launch_config.relauncher_config
}

# Renders config/launch_parameters.json.tftpl and builds the relauncher's configuration.
module "launch_config" {
  source = "./modules/launch_config"

  project                  = var.project_id
  region                   = var.region
  bucket                   = google_storage_bucket.pipelines.name
  worker_service_account   = google_service_account.dataflow_worker.email
  subnetwork               = local.subnetwork
  max_workers              = var.max_workers
  window_seconds           = var.window_seconds
  allowed_lateness_seconds = var.allowed_lateness_seconds
  images                   = local.images
  subscriptions            = { for name, sub in google_pubsub_subscription.pipeline : name => sub.name }
  labels                   = var.labels
  kms_key_name             = var.kms_key_name
  audit_retention_days     = var.audit_retention_days
}

check "images_recorded" {
  assert {
    condition     = length(setsubtract(keys(local.pipelines), keys(var.image_digests))) == 0
    error_message = "No image digest recorded for ${join(", ", setsubtract(keys(local.pipelines), keys(var.image_digests)))}: run `make templates` (it writes terraform/images.auto.tfvars.json), then `terraform apply` again, before the first launch."
  }
}
