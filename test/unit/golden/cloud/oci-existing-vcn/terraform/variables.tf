variable "ssh_public_key" {
  description = "OpenSSH public key for the ubuntu user; moat deploy passes it with -var."
  type        = string
}

variable "availability_domain_index" {
  description = "Which availability domain (sorted by name) to launch in; deploy moves on when one is out of host capacity."
  type        = number
  default     = 0
}

variable "subnet_cidr" {
  description = "A free CIDR inside the existing VCN ocid1.vcn.oc1.iad.bbbb for Moat's subnet."
  type        = string
}

variable "oci_config_profile" {
  description = "Profile in ~/.oci/config holding the API key."
  type        = string
  default     = "DEFAULT"
}
