variable "ssh_public_key" {
  description = "OpenSSH public key for the ubuntu user; moat deploy passes it with -var."
  type        = string
}
