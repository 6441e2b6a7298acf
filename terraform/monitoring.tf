# Alert when the relauncher gives up on a pipeline (its retry budget is exhausted) and when the
# function itself fails. The exhausted entry is a structured log line whose "message" is the
# fixed text from system.json; Cloud Logging puts it at jsonPayload.message.
locals {
  relauncher_log_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.relauncher_name}\"",
  ])
}

resource "google_logging_metric" "retries_exhausted" {
  project     = var.project_id
  name        = "ecommerce_relauncher_retries_exhausted"
  description = "Relauncher entries saying a pipeline's retry budget is exhausted and it stays down."
  filter      = "${local.relauncher_log_filter} AND jsonPayload.message=\"${local.system.relauncher.exhausted_log_message}\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Relauncher retries exhausted"

    labels {
      key         = "pipeline"
      value_type  = "STRING"
      description = "Pipeline whose retries are exhausted."
    }
  }

  label_extractors = {
    pipeline = "EXTRACT(jsonPayload.pipeline)"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "retries_exhausted" {
  project               = var.project_id
  display_name          = "Ecommerce pipeline down: relaunch retries exhausted"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Retries exhausted logged by the relauncher"

    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.retries_exhausted.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.pipeline"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Streaming pipeline down after exhausting its relaunch budget"
    content   = <<-EOT
      The relauncher stopped relaunching a pipeline: its retry budget is used up. Read the
      pipeline's record in Firestore (collection `${local.system.firestore.collection}`) and the
      failed jobs in Dataflow, fix the cause, then run the first launch again:
      `gcloud workflows run ${local.workflow_name} --location=${var.region} --project=${var.project_id}`.
    EOT
  }
}

# An event-driven function answers 5xx when it fails; Eventarc then retries the event.
resource "google_monitoring_alert_policy" "relauncher_errors" {
  project               = var.project_id
  display_name          = "Ecommerce relauncher failing"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Relauncher 5xx responses"

    condition_threshold {
      filter = join(" AND ", [
        "metric.type=\"run.googleapis.com/request_count\"",
        "resource.type=\"cloud_run_revision\"",
        "resource.label.service_name=\"${local.relauncher_name}\"",
        "metric.label.response_code_class=\"5xx\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Relauncher function errors"
    content   = "The relauncher returned server errors; Eventarc retries the events. Check its logs (Cloud Run service `${local.relauncher_name}`, severity >= ERROR)."
  }

  depends_on = [google_project_service.enabled]
}
