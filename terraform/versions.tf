terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.0"
    }
    # google_project_service_identity exists only in the beta provider (service_agents.tf).
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
    # time_sleep: the first-apply waits for IAM propagation (service_agents.tf).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.12"
    }
  }

  # Keep the state in a bucket shared by the team (create it once, outside this configuration):
  # backend "gcs" {
  #   bucket = "my-terraform-state-bucket"
  #   prefix = "ecommerce-analytics"
  # }
}

# default_labels: var.labels (plus system = ecommerce-analytics) on every resource that takes labels.
provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

provider "google-beta" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}
