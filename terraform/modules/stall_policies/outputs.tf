output "policies" {
  description = "Per \"<pipeline>.<signal>\": pipeline, signal, filter, threshold_value, duration, user_labels."
  value       = local.policies
}

output "alerts_topic" {
  description = "Name of the Pub/Sub topic the stall incidents are published to."
  value       = var.stall_detection.alerts_topic
}

output "renotify_interval" {
  description = "How often Cloud Monitoring re-sends an open incident to the Pub/Sub channel (the relauncher checks its drain deadline on each)."
  value       = "${var.stall_detection.renotify_seconds}s"
}
