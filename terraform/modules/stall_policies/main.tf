# One Cloud Monitoring threshold condition per pipeline and stall signal, rendered from
# config/system.json (stall_detection). Provider-free, so a test evaluates it with a real terraform
# binary and checks that a changed threshold, duration or renotify interval changes the rendering;
# terraform/stall_detection.tf turns each entry into a google_monitoring_alert_policy.
locals {
  # Which time series belong to a pipeline, per monitored resource type. Labels are those of the
  # monitored resources (cloud.google.com/monitoring/api/resources): pubsub_subscription has
  # project_id and subscription_id; dataflow_job has project_id, job_name and region. A job of a
  # pipeline is named "<job_name_prefix>-a<attempt>" (relauncher/config.py PipelineConfig.job_name),
  # so every attempt matches and another pipeline's jobs never do.
  # monitoring.regex.full_match: cloud.google.com/monitoring/api/v3/filters.
  resource_filters = {
    pubsub_subscription = {
      for name, p in var.pipelines : name => "resource.label.subscription_id = \"${p.subscription}\""
    }
    dataflow_job = {
      for name, p in var.pipelines : name => join(" AND ", [
        "resource.label.job_name = monitoring.regex.full_match(\"${p.job_name_prefix}-a[0-9]+\")",
        "resource.label.region = \"${var.region}\"",
      ])
    }
  }

  policies = {
    for pair in setproduct(sort(keys(var.pipelines)), sort(keys(var.stall_detection.signals))) :
    "${pair[0]}.${pair[1]}" => {
      pipeline = pair[0]
      signal   = pair[1]
      filter = join(" AND ", [
        "metric.type = \"${var.stall_detection.signals[pair[1]].metric_type}\"",
        "resource.type = \"${var.stall_detection.signals[pair[1]].resource_type}\"",
        local.resource_filters[var.stall_detection.signals[pair[1]].resource_type][pair[0]],
      ])
      # All three metrics are INT64 gauges in seconds ("s": cloud.google.com/monitoring/api/metrics_gcp,
      # pubsub subscription/oldest_unacked_message_age, dataflow job/data_watermark_age and
      # job/system_lag), so the threshold is the configured number of seconds as it stands.
      threshold_value = var.stall_detection.signals[pair[1]].threshold_seconds
      duration        = "${var.stall_detection.signals[pair[1]].duration_seconds}s"
      # The relauncher reads these from the incident's policy.user_labels (Cloud Monitoring's
      # Pub/Sub notification JSON) to know which pipeline stalled and on which signal.
      user_labels = { pipeline = pair[0], signal = pair[1] }
    }
  }
}
