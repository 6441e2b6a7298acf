# One topic per pipeline input and the subscription the pipeline reads, names from system.json.
#
# No dead-letter topic and no retry policy on these subscriptions: Dataflow does not support
# either on the subscriptions it reads (Pub/Sub "Handling message failures"), because it acks
# only after a durable commit. Bad events are dead-lettered inside the pipelines instead, into
# the BigQuery dead_letter table, so nothing is dropped silently.
resource "google_pubsub_topic" "events" {
  #checkov:skip=CKV_GCP_83:Customer-managed encryption is optional (var.kms_key_name, off by default); Google-managed encryption otherwise
  for_each = local.pipelines

  project = var.project_id
  name    = each.value.topic
  labels  = local.labels

  # Optional CMEK (var.kms_key_name); the Pub/Sub agent needs encrypter/decrypter (kms.tf).
  kms_key_name = var.kms_key_name

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.agents]
}

resource "google_pubsub_subscription" "pipeline" {
  for_each = local.pipelines

  project = var.project_id
  name    = each.value.subscription
  topic   = google_pubsub_topic.events[each.key].id
  labels  = merge(local.labels, { pipeline = each.key })

  ack_deadline_seconds = var.subscription_ack_deadline_seconds
  # A relaunched job resumes from the subscription backlog: keep unacked events long enough
  # for the relauncher's retry budget and for a person to step in after it is exhausted.
  message_retention_duration = var.subscription_message_retention
  retain_acked_messages      = false

  # The pipelines are the only readers; the subscription must never expire while a job is down.
  expiration_policy {
    ttl = ""
  }
}
