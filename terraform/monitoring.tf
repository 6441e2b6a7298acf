# Alerts on the relauncher's own log entries. Both are log-match conditions (condition_matched_log):
# they evaluate the entries themselves, so there is no log-based metric to create first and no
# "Cannot find metric(s)" when the policy is created seconds after that metric
# (hashicorp/terraform-provider-google#11102). Cloud Logging puts a structured line's "message" at
# jsonPayload.message and its "severity" in the entry's severity.
locals {
  relauncher_log_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.relauncher_name}\"",
  ])

  # Every alert goes to the required alert_email channel and to any further channels given.
  notification_channels = concat([google_monitoring_notification_channel.email.id], var.notification_channels)
}

resource "google_monitoring_notification_channel" "email" {
  project      = var.project_id
  display_name = "Ecommerce analytics alerts (${var.alert_email})"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.enabled]
}

# Two log-match alerts on the relauncher's entries:
# - retries_exhausted: the relauncher gave up on a pipeline (its retry budget is used up);
# - relauncher_error_logs: any ERROR entry. A permanent launch error (PERMISSION_DENIED, an image
#   that does not exist) is logged at ERROR and acknowledged, its retry refunded, and no further
#   event comes, so the pipeline stays down unless someone is told. This also covers the exhausted
#   entry and configuration or Firestore failures; the 5xx policy below covers crashes that log nothing.
locals {
  rearm_hint = "`python -m ops --project ${var.project_id} rearm PIPELINE --relaunch` (with RELAUNCHER_CONFIG from the function)"
  log_alerts = {
    retries_exhausted = {
      display_name = "Ecommerce pipeline down: relaunch retries exhausted"
      severity     = "CRITICAL"
      condition    = "Retries exhausted logged by the relauncher"
      filter       = "${local.relauncher_log_filter} AND jsonPayload.message=\"${local.system.relauncher.exhausted_log_message}\""
      subject      = "Streaming pipeline down after exhausting its relaunch budget"
      content      = "The relauncher stopped relaunching a pipeline: its retry budget is used up. Read the pipeline's record in Firestore (collection `${local.system.firestore.collection}`) and the failed jobs in Dataflow, fix the cause, then re-arm and relaunch it: ${local.rearm_hint}. The first-launch workflow deliberately leaves an exhausted pipeline alone."
    }
    relauncher_error_logs = {
      display_name = "Ecommerce relauncher logged an error"
      severity     = "ERROR"
      condition    = "Relauncher entries with severity >= ERROR"
      filter       = "${local.relauncher_log_filter} AND severity>=ERROR"
      subject      = "Relauncher error: a pipeline may be down with no further relaunch"
      content      = "The relauncher logged an error (Cloud Run service `${local.relauncher_name}`, severity >= ERROR). A launch refused for good (permission, missing image) is not retried: fix the cause, then ${local.rearm_hint}."
    }
  }
}

resource "google_monitoring_alert_policy" "log_match" {
  for_each = local.log_alerts

  project               = var.project_id
  display_name          = each.value.display_name
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = each.value.condition

    condition_matched_log {
      filter = each.value.filter
      label_extractors = {
        pipeline = "EXTRACT(jsonPayload.pipeline)"
      }
    }
  }

  # Required for log-match conditions: at most one notification per period.
  alert_strategy {
    notification_rate_limit {
      period = "300s"
    }
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = each.value.subject
    content   = each.value.content
  }

  depends_on = [google_project_service.enabled]
}

# An event-driven function answers 5xx when it fails; Eventarc then retries the event.
resource "google_monitoring_alert_policy" "relauncher_errors" {
  project               = var.project_id
  display_name          = "Ecommerce relauncher failing"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
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
