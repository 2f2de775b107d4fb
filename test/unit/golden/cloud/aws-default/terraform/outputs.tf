output "public_ip" {
  value = aws_instance.moat.public_ip
}

output "instance_id" {
  value = aws_instance.moat.id
}
