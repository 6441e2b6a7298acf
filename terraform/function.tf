# The relauncher: a 2nd-gen Cloud Function woken by Dataflow's job-status events through Eventarc.
data "archive_file" "relauncher" {
  type             = "zip"
  source_dir       = "${path.module}/../functions/relauncher"
  output_path      = "${path.module}/.build/relauncher.zip"
  output_file_mode = "0644"
  excludes         = ["**/__pycache__/**", "**/*.pyc", "tests/**", ".pytest_cache/**"]
}

# The object name carries the archive's hash, so a source change redeploys the function.
resource "google_storage_bucket_object" "relauncher_source" {
  bucket = google_storage_bucket.pipelines.name
  name   = "functions/relauncher-${data.archive_file.relauncher.output_md5}.zip"
  source = data.archive_file.relauncher.output_path
}

resource "google_cloudfunctions2_function" "relauncher" {
  project     = var.project_id
  name        = local.relauncher_name
  location    = var.region
  description = "Relaunches a failed streaming job from its flex template, once per failure, within its retry budget."
  labels      = local.labels

  build_config {
    runtime           = var.relauncher_runtime
    entry_point       = "relaunch"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.images.id

    source {
      storage_source {
        bucket = google_storage_bucket.pipelines.name
        object = google_storage_bucket_object.relauncher_source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.relauncher.email
    # Only Eventarc (internal) traffic reaches it; nobody is granted run.invoker but the trigger.
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    min_instance_count               = 0
    max_instance_count               = var.relauncher_max_instances
    max_instance_request_concurrency = 1
    available_memory                 = "256M"
    timeout_seconds                  = 120

    # Everything the function knows comes from config/ through terraform; DATAFLOW_ENDPOINT is
    # for the local stand-in only and deliberately absent here.
    environment_variables = {
      RELAUNCHER_CONFIG = jsonencode(local.relauncher_config)
    }
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.dataflow.job.v1beta3.statusChanged"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
  }

  # The build reads the copied source as the builder; the trigger needs the Eventarc and Pub/Sub
  # agents and every role propagated (service_agents.tf), which time_sleep waits for.
  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.roles,
    google_storage_bucket_iam_member.builder_objects,
    google_project_iam_member.builder_function_sources,
    google_artifact_registry_repository_iam_member.builder_writer,
    time_sleep.eventarc_agent_ready,
  ]
}

# The second trigger (issue 11): stall incidents that Cloud Monitoring publishes to the alerts topic
# (stall_detection.tf) reach the same function. A function owns only one event_trigger, so this is
# a plain Eventarc trigger on the function's Cloud Run service (Eventarc's destination.cloud_function
# is output only: functions' own triggers are created through Cloud Functions). Same identity as the
# first trigger (run.invoker on the service, iam.tf). No retry_policy block: Eventarc then retries
# through its Pub/Sub subscription with exponential backoff (10 s to 600 s) for 24 h
# (cloud.google.com/eventarc/docs/retry-events), the counterpart of RETRY_POLICY_RETRY above.
resource "google_eventarc_trigger" "stall_incidents" {
  project         = var.project_id
  name            = "${local.relauncher_name}-stall-incidents"
  location        = var.region
  service_account = google_service_account.trigger.email
  labels          = local.labels

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.pubsub.topic.v1.messagePublished"
  }

  # An existing topic as transport: Eventarc subscribes to it instead of creating its own.
  transport {
    pubsub {
      topic = google_pubsub_topic.alerts.id
    }
  }

  destination {
    cloud_run_service {
      # A 2nd-gen function's service is named like the function; service_config.service may be
      # the full resource name, and basename() gives the plain name either way.
      service = basename(google_cloudfunctions2_function.relauncher.service_config[0].service)
      region  = var.region
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_cloud_run_v2_service_iam_member.trigger_invoker,
    time_sleep.eventarc_agent_ready,
  ]
}
