# Terraform and provider pins. State lives in a GCS bucket chosen at init time:
#   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=orderhub"
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }

  backend "gcs" {}
}

provider "google" {
  project = var.project
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project
}
