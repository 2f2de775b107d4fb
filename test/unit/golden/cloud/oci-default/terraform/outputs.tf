output "public_ip" {
  value = oci_core_instance.moat.public_ip
}

output "instance_id" {
  value = oci_core_instance.moat.id
}
