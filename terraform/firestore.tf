# Native-mode database "(default)": the relauncher's transactional retry records and audit trail
# (collection from system.json) and the first launch's initial records.
resource "google_firestore_database" "default" {
  project     = var.project_id
  name        = "(default)"
  location_id = local.firestore_location
  type        = "FIRESTORE_NATIVE"

  concurrency_mode                  = "PESSIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}

# Firestore TTL on the relauncher's audit entries: every pipelines/{p}/events/{event} and
# pipelines/_unfiled/events/{event} document (collection group "events") is deleted once its
# expire_at timestamp has passed (typically within 24 hours after: Firestore docs, "Manage data
# retention with TTL policies"). Every Dataflow job in the region reaches the function, so
# _unfiled would otherwise grow forever. The relauncher writes expire_at = handled time +
# audit_retention_days (RELAUNCHER_CONFIG); an entry without it is kept.
resource "google_firestore_field" "audit_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "events"
  field      = "expire_at"

  ttl_config {}
}
