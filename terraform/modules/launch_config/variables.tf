variable "project" {
  description = "Project ID the pipelines and their subscriptions live in."
  type        = string
}

variable "region" {
  description = "Dataflow region the pipelines are launched in (also the relauncher's and the workflow's)."
  type        = string
}

variable "bucket" {
  description = "Bucket name holding templates/, staging/ and temp/."
  type        = string
}

variable "worker_service_account" {
  description = "Email of the service account the Dataflow workers run as."
  type        = string
}

variable "subnetwork" {
  description = "Subnetwork (self link or regions/REGION/subnetworks/NAME) for the private-IP workers."
  type        = string
}

variable "max_workers" {
  description = "Upper bound for Dataflow autoscaling, per job."
  type        = number
}

variable "window_seconds" {
  description = "Fixed window size of the real-time aggregates, in seconds."
  type        = number
}

variable "allowed_lateness_seconds" {
  description = "How late an event may arrive and still update its window, in seconds."
  type        = number
}

variable "images" {
  description = "Flex-template SDK container image per pipeline name (keys as in config/system.json)."
  type        = map(string)
}

variable "subscriptions" {
  description = "Pub/Sub subscription name (not path) each pipeline reads, per pipeline name."
  type        = map(string)
}

variable "labels" {
  description = "User labels added to every Dataflow job (additionalUserLabels), beside the managed label and the pipeline label."
  type        = map(string)
  default     = {}
}

variable "kms_key_name" {
  description = "Customer-managed key for the Dataflow jobs (environment.kmsKeyName); null for Google-managed encryption."
  type        = string
  default     = null
}

variable "audit_retention_days" {
  description = "Days the relauncher's audit entries are kept (they carry an expire_at for Firestore's TTL policy); null uses relauncher.audit_retention_days from config/system.json."
  type        = number
  default     = null
}
