# First-apply ordering. On a fresh project the Google-managed service agents do not exist until
# their API creates them lazily, and freshly granted roles take minutes to propagate, so the
# Eventarc trigger behind the function fails with "Permission denied while using the Eventarc
# Service Agent" (hashicorp/terraform-provider-google#25294). Following the provider's and
# Eventarc's own terraform examples: create the agents explicitly, grant the Eventarc agent its
# role, then wait before anything that uses them (the function and its trigger, and issue-level
# triggers added elsewhere: depend on time_sleep.eventarc_agent_ready).

# The agents this configuration relies on: Eventarc (creates the trigger's Pub/Sub plumbing),
# Pub/Sub (mints the trigger's OIDC tokens for push delivery; encrypts with the CMEK key),
# Cloud Monitoring (its notification agent publishes stall incidents: stall_detection.tf), and the
# Artifact Registry and Dataflow agents that encrypt with the optional CMEK key (kms.tf), which
# otherwise exist only once their API first needs them, too late for the key grant. Each is its
# API's primary service agent (IAM docs, "Service agents"), which is what this resource creates.
resource "google_project_service_identity" "agents" {
  # Beta-only resource (registry.terraform.io/providers/hashicorp/google-beta: google_project_service_identity).
  provider = google-beta
  for_each = toset([
    "eventarc.googleapis.com",
    "pubsub.googleapis.com",
    "monitoring.googleapis.com",
    "artifactregistry.googleapis.com",
    "dataflow.googleapis.com",
  ])

  project = var.project_id
  service = each.value

  depends_on = [google_project_service.enabled]
}

locals {
  eventarc_agent_member = "serviceAccount:${google_project_service_identity.agents["eventarc.googleapis.com"].email}"
  pubsub_agent_member   = "serviceAccount:${google_project_service_identity.agents["pubsub.googleapis.com"].email}"
  # service-PROJECT_NUMBER@gcp-sa-monitoring-notification.iam.gserviceaccount.com
  monitoring_agent_member = "serviceAccount:${google_project_service_identity.agents["monitoring.googleapis.com"].email}"
}

# Eventarc's agent normally receives this role when the API is enabled; granting it explicitly
# removes the race with that automatic grant (Eventarc docs, "Create a trigger using Terraform").
resource "google_project_iam_member" "eventarc_agent" {
  project = var.project_id
  role    = "roles/eventarc.serviceAgent"
  member  = local.eventarc_agent_member
}

# IAM changes are eventually consistent (typically within 2 minutes, up to 7: IAM docs, "Access
# change propagation"). Everything the trigger needs is granted before this wait starts.
resource "time_sleep" "eventarc_agent_ready" {
  create_duration = var.iam_propagation_wait

  depends_on = [
    google_project_iam_member.eventarc_agent,
    google_project_iam_member.roles,
    google_service_account_iam_member.pubsub_token_creator,
  ]
}
