variable "stall_detection" {
  description = "The stall_detection object of config/system.json (alerts topic, renotify interval, signals)."
  type = object({
    alerts_topic     = string
    renotify_seconds = number
    signals = map(object({
      metric_type       = string
      resource_type     = string
      threshold_seconds = number
      duration_seconds  = number
    }))
  })

  # Cloud Monitoring accepts only whole minutes as a threshold condition's duration
  # ("only values that are a multiple of a minute--e.g., 0, 60, 120, or 300 seconds--are
  # supported": MetricThreshold.duration, cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies).
  validation {
    condition = alltrue([
      for s in values(var.stall_detection.signals) :
      s.duration_seconds >= 60 && s.duration_seconds % 60 == 0 && s.threshold_seconds > 0
    ])
    error_message = "Each signal needs duration_seconds a positive multiple of 60 and threshold_seconds > 0."
  }

  # Each signal is read on one monitored resource type this module knows how to filter.
  validation {
    condition = alltrue([
      for s in values(var.stall_detection.signals) : contains(["pubsub_subscription", "dataflow_job"], s.resource_type)
    ])
    error_message = "Each signal's resource_type must be pubsub_subscription or dataflow_job."
  }

  validation {
    condition     = var.stall_detection.renotify_seconds >= 60 && floor(var.stall_detection.renotify_seconds) == var.stall_detection.renotify_seconds
    error_message = "renotify_seconds must be a whole number of seconds >= 60."
  }
}

variable "pipelines" {
  description = "The pipelines object of config/system.json (job_name_prefix and subscription are used)."
  type = map(object({
    job_name_prefix = string
    subscription    = string
  }))
}

variable "region" {
  description = "Dataflow region the jobs run in (dataflow_job's region label)."
  type        = string
}
