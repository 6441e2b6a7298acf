output "topics" {
  description = "Pub/Sub topic the shops publish to, per pipeline."
  value       = { for name, t in google_pubsub_topic.events : name => t.id }
}

output "subscriptions" {
  description = "Subscription each pipeline reads."
  value       = { for name, s in google_pubsub_subscription.pipeline : name => s.id }
}

output "dataset" {
  description = "BigQuery dataset with the facts, aggregates, dead letters and views."
  value       = google_bigquery_dataset.analytics.id
}

output "tables" {
  description = "BigQuery table IDs (project.dataset.table) per logical table."
  value = {
    for key, t in google_bigquery_table.tables :
    key => "${t.project}.${t.dataset_id}.${t.table_id}"
  }
}

output "views" {
  description = "BigQuery view IDs (project.dataset.view)."
  value = [
    for v in concat(values(google_bigquery_table.base_views), values(google_bigquery_table.insight_views)) :
    "${v.project}.${v.dataset_id}.${v.table_id}"
  ]
}

output "bucket" {
  description = "Bucket for templates/, staging/, temp/ and the function source (the Makefile's BUCKET)."
  value       = google_storage_bucket.pipelines.name
}

output "artifact_repository" {
  description = "Docker repository URL for the flex-template images."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "function_name" {
  description = "The relauncher Cloud Function."
  value       = google_cloudfunctions2_function.relauncher.name
}

output "workflow_name" {
  description = "The first-launch workflow."
  value       = google_workflows_workflow.first_launch.name
}

output "service_accounts" {
  description = "Service account emails, per role."
  value = {
    dataflow_worker = google_service_account.dataflow_worker.email
    relauncher      = google_service_account.relauncher.email
    workflow        = google_service_account.workflow.email
    trigger         = google_service_account.trigger.email
    builder         = google_service_account.builder.email
  }
}

output "build_templates_command" {
  description = "Builds both flex templates and records their image digests in terraform/images.auto.tfvars.json (then run terraform apply again)."
  value       = "make templates PROJECT=${var.project_id} REGION=${var.region} BUCKET=${google_storage_bucket.pipelines.name} REPOSITORY=${google_artifact_registry_repository.images.repository_id}"
}

output "images" {
  description = "The image reference (by digest) each pipeline's jobs run."
  value       = local.images
}

output "trigger_id" {
  description = "The Eventarc trigger delivering Dataflow job events to the relauncher."
  value       = google_cloudfunctions2_function.relauncher.event_trigger[0].trigger
}

output "alert_policy_ids" {
  description = "Cloud Monitoring alert policies, by purpose."
  value = {
    retries_exhausted     = google_monitoring_alert_policy.log_match["retries_exhausted"].id
    relauncher_error_logs = google_monitoring_alert_policy.log_match["relauncher_error_logs"].id
    relauncher_errors     = google_monitoring_alert_policy.relauncher_errors.id
    # Per "<pipeline>.<signal>" (stall_detection.tf).
    stall = { for key, policy in google_monitoring_alert_policy.stall : key => policy.id }
  }
}

output "notification_channel_id" {
  description = "The email notification channel created for alert_email."
  value       = google_monitoring_notification_channel.email.id
}

output "smoke_command" {
  description = "Checks the deployment end to end once both jobs run (README, Deploy)."
  value       = "python -m ops smoke --project ${var.project_id} --region ${var.region}"
}

output "first_launch_command" {
  description = "Starts both streaming jobs once; safe to run again."
  value       = "gcloud workflows run ${google_workflows_workflow.first_launch.name} --location=${var.region} --project=${var.project_id}"
}

output "alerts_topic" {
  description = "Pub/Sub topic Cloud Monitoring publishes stall incidents to (the relauncher's second trigger reads it)."
  value       = google_pubsub_topic.alerts.id
}

output "stall_trigger_id" {
  description = "The Eventarc trigger delivering stall incidents from the alerts topic to the relauncher."
  value       = google_eventarc_trigger.stall_incidents.id
}
