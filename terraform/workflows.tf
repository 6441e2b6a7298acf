# First launch only: starts both streaming jobs (skipping one that is already active) and writes
# their initial Firestore records. Replacements are the relauncher's job, driven by events.
resource "google_workflows_workflow" "first_launch" {
  project         = var.project_id
  name            = local.workflow_name
  region          = var.region
  description     = "First launch of the orders and shipping streaming pipelines (safe to run twice)."
  service_account = google_service_account.workflow.id
  call_log_level  = "LOG_ERRORS_ONLY"
  labels          = local.labels
  source_contents = file("${path.module}/../workflows/first_launch.yaml")

  # The same configuration the relauncher gets, so both launch identically.
  user_env_vars = {
    LAUNCH_CONFIG = jsonencode(local.relauncher_config)
  }

  deletion_protection = var.deletion_protection

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.roles,
    google_service_account_iam_member.launcher_act_as_worker,
    google_storage_bucket_iam_member.launcher_template_reader,
    google_storage_bucket_iam_member.launcher_bucket_metadata,
  ]
}
