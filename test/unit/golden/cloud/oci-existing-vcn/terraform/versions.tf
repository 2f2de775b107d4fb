terraform {
  required_version = ">= 1.5"
  required_providers {
    oci = {
      source  = "oracle/oci"
      version = "~> 8.0"
    }
  }
}

provider "oci" {
  region              = "us-ashburn-1"
  config_file_profile = var.oci_config_profile
}
