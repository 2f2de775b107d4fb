variable "ssh_public_key" {
  description = "OpenSSH public key for the ubuntu user; moat deploy passes it with -var."
  type        = string
}

variable "availability_domain_index" {
  description = "Which availability domain (sorted by name) to launch in; deploy moves on when one is out of host capacity."
  type        = number
  default     = 0
}

variable "tenancy_ocid" {
  description = "Tenancy OCID: its root compartment holds everything (target.compartmentId is unset)."
  type        = string
}

variable "oci_config_profile" {
  description = "Profile in ~/.oci/config holding the API key."
  type        = string
  default     = "DEFAULT"
}
