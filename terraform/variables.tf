variable "project_id" {
  description = "Existing Google Cloud project to deploy into (billing enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits, hyphens), not a name or number."
  }
}

variable "region" {
  description = "Region for Dataflow jobs, the subnetwork, the bucket, the relauncher, its Eventarc trigger and the workflow. Dataflow job events are delivered to a trigger in the job's region."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a single region such as europe-west1 (not a multi-region)."
  }
}

variable "bigquery_location" {
  description = "Location of the BigQuery dataset (EU, US or a region); null picks the multi-region that contains var.region (EU, US) or var.region itself, so Dataflow writes stay local."
  type        = string
  default     = null
}

variable "firestore_location" {
  description = "Location of the Firestore database holding the retry records; null uses var.region."
  type        = string
  default     = null
}

variable "bucket_name" {
  description = "Name of the bucket for templates, staging and temp files; null uses \"<project_id>-ecommerce-analytics\" (the Makefile's default BUCKET)."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid Cloud Storage bucket name."
  }
}

variable "artifact_repository_id" {
  description = "Artifact Registry Docker repository for the flex-template images (the Makefile's REPOSITORY)."
  type        = string
  default     = "ecommerce-analytics"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.artifact_repository_id))
    error_message = "artifact_repository_id must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "image_digests" {
  description = "Digest (\"sha256:...\") of each pipeline's flex-template image, per pipeline name, as `make templates` writes them to terraform/images.auto.tfvars.json. Jobs launch by digest, so a relaunch runs exactly the image of the job it replaces. Empty before the first `make templates`."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for d in values(var.image_digests) : can(regex("^sha256:[0-9a-f]{64}$", d))])
    error_message = "Each image digest must be \"sha256:\" followed by 64 lowercase hex digits (never a tag)."
  }
}

variable "subnetwork_self_link" {
  description = "Existing subnetwork (self link) with Private Google Access for the private-IP Dataflow workers; null creates a dedicated VPC and subnetwork."
  type        = string
  default     = null
}

variable "subnetwork_cidr" {
  description = "IP range of the subnetwork created when subnetwork_self_link is null."
  type        = string
  default     = "10.20.0.0/24"

  validation {
    condition     = can(cidrhost(var.subnetwork_cidr, 0))
    error_message = "subnetwork_cidr must be an IPv4 CIDR range."
  }
}

variable "max_workers" {
  description = "Upper bound for Dataflow autoscaling, per job."
  type        = number
  default     = 3

  validation {
    condition     = var.max_workers >= 1 && var.max_workers <= 100 && floor(var.max_workers) == var.max_workers
    error_message = "max_workers must be a whole number between 1 and 100."
  }
}

variable "window_seconds" {
  description = "Fixed window size of the real-time aggregates, in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.window_seconds >= 1 && floor(var.window_seconds) == var.window_seconds
    error_message = "window_seconds must be a positive whole number."
  }
}

variable "allowed_lateness_seconds" {
  description = "How late an event may arrive and still update its window, in seconds."
  type        = number
  default     = 300

  validation {
    condition     = var.allowed_lateness_seconds >= 0 && floor(var.allowed_lateness_seconds) == var.allowed_lateness_seconds
    error_message = "allowed_lateness_seconds must be a whole number >= 0."
  }
}

variable "subscription_ack_deadline_seconds" {
  description = "Ack deadline of the pipelines' subscriptions (Dataflow extends it while it works)."
  type        = number
  default     = 60

  validation {
    condition     = var.subscription_ack_deadline_seconds >= 10 && var.subscription_ack_deadline_seconds <= 600
    error_message = "subscription_ack_deadline_seconds must be between 10 and 600."
  }
}

variable "subscription_message_retention" {
  description = "How long unacknowledged events are kept, so a relaunched job catches up (duration in seconds, e.g. \"604800s\"). Beyond 24 hours Pub/Sub charges for the retained backlog."
  type        = string
  default     = "604800s"

  # Pub/Sub: minimum 10 minutes, maximum 31 days (cloud.google.com/pubsub/docs/subscription-properties,
  # "Message retention duration"; the provider's message_retention_duration says the same).
  validation {
    condition     = can(regex("^[0-9]+s$", var.subscription_message_retention)) && tonumber(trimsuffix(var.subscription_message_retention, "s")) >= 600 && tonumber(trimsuffix(var.subscription_message_retention, "s")) <= 2678400
    error_message = "subscription_message_retention must be between \"600s\" (10 minutes) and \"2678400s\" (31 days)."
  }
}

variable "relauncher_runtime" {
  description = "Python runtime of the relauncher function."
  type        = string
  default     = "python312"

  validation {
    condition     = contains(["python311", "python312"], var.relauncher_runtime)
    error_message = "relauncher_runtime must be python311 or python312."
  }
}

variable "relauncher_max_instances" {
  description = "Upper bound of relauncher instances; a burst of job events never fans out beyond it."
  type        = number
  default     = 3

  validation {
    condition     = var.relauncher_max_instances >= 1 && var.relauncher_max_instances <= 100
    error_message = "relauncher_max_instances must be between 1 and 100."
  }
}

variable "alert_email" {
  description = "Email address every alert is sent to (an email notification channel is created for it). Required: an alert that reaches no one does not exist."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an email address."
  }
}

variable "notification_channels" {
  description = "Further Cloud Monitoring notification channel IDs (projects/P/notificationChannels/N) alerted besides alert_email."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each notification channel must be a full ID: projects/PROJECT/notificationChannels/ID."
  }
}

variable "iam_propagation_wait" {
  description = "How long the first apply waits after creating the service agents and granting roles, before the Eventarc trigger is created (IAM changes propagate in about 2 minutes, at most 7)."
  type        = string
  default     = "120s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.iam_propagation_wait))
    error_message = "iam_propagation_wait must be a duration in seconds, such as \"120s\"."
  }
}

variable "kms_key_name" {
  description = "Optional customer-managed key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for the bucket, BigQuery dataset, Pub/Sub topics, Artifact Registry and Dataflow jobs; null keeps Google-managed encryption. The key must be in a location compatible with each of them."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be a full crypto key ID: projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "audit_retention_days" {
  description = "Days the relauncher's audit entries (events of every pipeline and _unfiled) are kept before Firestore's TTL deletes them; every Dataflow job in the region reaches the function, so _unfiled grows without it. null uses relauncher.audit_retention_days from config/system.json."
  type        = number
  default     = null

  validation {
    condition     = var.audit_retention_days == null || (coalesce(var.audit_retention_days, 1) >= 1 && floor(coalesce(var.audit_retention_days, 1)) == coalesce(var.audit_retention_days, 1))
    error_message = "audit_retention_days must be a whole number >= 1."
  }
}

variable "deletion_protection" {
  description = "Protect the BigQuery tables and views, the Firestore database and the workflow from terraform destroy."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels added to every resource that takes labels (provider default_labels) and to the Dataflow jobs (additionalUserLabels), which are the main cost."
  type        = map(string)
  default     = {}

  # Google Cloud label rules (keys start with a lowercase letter; at most 64 labels in all).
  validation {
    condition = length(var.labels) <= 60 && alltrue([
      for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))
    ])
    error_message = "labels: keys start with a lowercase letter; keys and values use lowercase letters, digits, _ and -, at most 63 characters."
  }
}
