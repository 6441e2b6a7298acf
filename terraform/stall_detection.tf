# Stall detection (issue 11). A streaming job whose bundle keeps failing is retried forever and
# stays RUNNING: no status event ever reaches the relauncher. Cloud Monitoring watches progress
# signals instead, one alert policy per pipeline and signal, everything from config/system.json
# (stall_detection), rendered by the provider-free modules/stall_policies. Incidents go through a
# Pub/Sub notification channel to the alerts topic, and from there to the relauncher through a
# second Eventarc trigger (function.tf). Arguments checked against the google provider 8.x docs.

module "stall_policies" {
  source = "./modules/stall_policies"

  stall_detection = local.system.stall_detection
  pipelines       = local.pipelines
  region          = var.region
}

# The alerts topic, with the conventions of the pipelines' topics (pubsub.tf): labels, optional CMEK.
resource "google_pubsub_topic" "alerts" {
  #checkov:skip=CKV_GCP_83:Customer-managed encryption is optional (var.kms_key_name, off by default); Google-managed encryption otherwise
  project = var.project_id
  name    = module.stall_policies.alerts_topic
  labels  = merge(local.labels, { purpose = "stall-incidents" })

  kms_key_name = var.kms_key_name

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.agents]
}

# type "pubsub" takes one label, topic = "projects/PROJECT/topics/TOPIC" (the topic's id)
# (cloud.google.com/monitoring/support/notification-options#pubsub).
resource "google_monitoring_notification_channel" "stall_incidents" {
  project      = var.project_id
  display_name = "Ecommerce relauncher: stall incidents (Pub/Sub ${google_pubsub_topic.alerts.name})"
  description  = "Delivers stall incidents to the relauncher function (second Eventarc trigger)."
  type         = "pubsub"
  labels = {
    topic = google_pubsub_topic.alerts.id
  }

  depends_on = [google_project_service.enabled]
}

# Cloud Monitoring publishes as its notification service agent,
# service-PROJECT_NUMBER@gcp-sa-monitoring-notification.iam.gserviceaccount.com, which needs
# roles/pubsub.publisher on the topic (notification-options#pubsub). It is the primary service agent
# of monitoring.googleapis.com (IAM "Service agents" reference), so google_project_service_identity
# creates it up front (service_agents.tf) instead of waiting for the first Pub/Sub channel to do so.
resource "google_pubsub_topic_iam_member" "monitoring_agent_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.alerts.name
  role    = "roles/pubsub.publisher"
  member  = local.monitoring_agent_member
}

# First apply: an incident published before the grant propagates is lost (the agent's publish is
# refused), so the policies are created only after the usual wait (service_agents.tf).
resource "time_sleep" "alerts_publisher_ready" {
  create_duration = var.iam_propagation_wait

  depends_on = [google_pubsub_topic_iam_member.monitoring_agent_publisher]
}

resource "google_monitoring_alert_policy" "stall" {
  for_each = module.stall_policies.policies

  project      = var.project_id
  display_name = "Ecommerce pipeline ${each.value.pipeline} stalled: ${each.value.signal}"
  combiner     = "OR"
  severity     = "ERROR"
  # The relauncher heals through the Pub/Sub channel; people are told too, since a stall means
  # stale answers until the heal is done (and a stall caused by data comes back).
  notification_channels = concat([google_monitoring_notification_channel.stall_incidents.id], local.notification_channels)
  # pipeline and signal arrive in the incident as policy.user_labels; labels keys and values are
  # lowercase letters, digits, "_" and "-", which pipeline and signal names are.
  user_labels = merge(local.labels, each.value.user_labels)

  conditions {
    display_name = "${each.value.signal} of ${each.value.pipeline} above ${each.value.threshold_value}s for ${each.value.duration}"

    condition_threshold {
      filter          = each.value.filter
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold_value
      # The value must stay above the threshold for the whole duration: a spike that recovers
      # (normal for system lag) opens no incident.
      duration = each.value.duration

      # Per time series, no cross-series reducer: each job (or subscription) is its own series, so
      # an incident names exactly one job_name / subscription_id in its resource labels.
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    # A replaced or cancelled job stops reporting; its incident closes after this long without data.
    auto_close = "1800s"
    # Re-notify the relauncher while the incident stays open: it checks its drain deadline on each
    # re-notification. Only the Pub/Sub channel is re-notified, people get one open and one close.
    notification_channel_strategy {
      notification_channel_names = [google_monitoring_notification_channel.stall_incidents.id]
      renotify_interval          = module.stall_policies.renotify_interval
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Pipeline ${each.value.pipeline} stalled (${each.value.signal})"
    content   = "`${each.value.signal}` of pipeline `${each.value.pipeline}` stayed above ${each.value.threshold_value}s for ${each.value.duration}: the streaming job is RUNNING but not progressing (Dataflow retries a failing bundle indefinitely). The relauncher receives this incident on Pub/Sub topic `${google_pubsub_topic.alerts.name}` and heals the current job as configured in config/system.json; its Firestore audit (collection `${local.system.firestore.collection}`) records each step. If the budget runs out, the exhausted alert follows: ${local.rearm_hint}."
  }

  depends_on = [google_project_service.enabled, time_sleep.alerts_publisher_ready]
}
