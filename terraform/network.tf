# Dataflow workers run without external IPs (ipConfiguration WORKER_IP_PRIVATE in the launch
# template), so they reach Google APIs, Artifact Registry and BigQuery through Private Google Access.
resource "google_compute_network" "dataflow" {
  count = var.subnetwork_self_link == null ? 1 : 0

  project                 = var.project_id
  name                    = "ecommerce-analytics"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"

  depends_on = [google_project_service.enabled]
}

resource "google_compute_subnetwork" "dataflow" {
  count = var.subnetwork_self_link == null ? 1 : 0

  project                  = var.project_id
  name                     = "ecommerce-analytics-dataflow"
  region                   = var.region
  network                  = google_compute_network.dataflow[0].id
  ip_cidr_range            = var.subnetwork_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.1
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Dataflow workers talk to each other on TCP 12345-12346 (shuffle and streaming data exchange);
# Dataflow tags its worker VMs with "dataflow".
resource "google_compute_firewall" "dataflow_internal" {
  count = var.subnetwork_self_link == null ? 1 : 0

  project     = var.project_id
  name        = "ecommerce-analytics-dataflow-internal"
  network     = google_compute_network.dataflow[0].id
  direction   = "INGRESS"
  priority    = 1000
  source_tags = ["dataflow"]
  target_tags = ["dataflow"]

  allow {
    protocol = "tcp"
    ports    = ["12345-12346"]
  }
}
