# Moat "demo": one EC2 VM, reachable over Tailscale with no inbound port.

# Canonical publishes the current Ubuntu 24.04 AMI id for each region here.
data "aws_ssm_parameter" "ubuntu" {
  name = "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"
}

# A zone that offers t4g.small: not every zone offers every type.
data "aws_ec2_instance_type_offerings" "moat" {
  location_type = "availability-zone"
  filter {
    name   = "instance-type"
    values = ["t4g.small"]
  }
}

resource "aws_vpc" "moat" {
  cidr_block           = "10.0.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags = {
    Name = "demo"
  }
}

resource "aws_internet_gateway" "moat" {
  vpc_id = aws_vpc.moat.id
  tags = {
    Name = "demo"
  }
}

resource "aws_subnet" "moat" {
  vpc_id                  = aws_vpc.moat.id
  cidr_block              = "10.0.1.0/24"
  availability_zone       = sort(data.aws_ec2_instance_type_offerings.moat.locations)[0]
  map_public_ip_on_launch = true
  tags = {
    Name = "demo"
  }
}

resource "aws_route_table" "moat" {
  vpc_id = aws_vpc.moat.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.moat.id
  }

  tags = {
    Name = "demo"
  }
}

resource "aws_route_table_association" "moat" {
  subnet_id      = aws_subnet.moat.id
  route_table_id = aws_route_table.moat.id
}

resource "aws_security_group" "moat" {
  name        = "moat-demo"
  description = "Moat: no inbound port; Tailscale needs none"
  vpc_id      = aws_vpc.moat.id

  ingress {
    description = "Path MTU discovery (fragmentation needed)"
    protocol    = "icmp"
    # For ICMP these are the type and the code.
    from_port   = 3
    to_port     = 4
    cidr_blocks = ["0.0.0.0/0"]
  }
  # Terraform drops AWS's allow-all egress rule; these replace it.
  egress {
    description = "HTTPS: apt, Tailscale, the gateway's upstreams"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "HTTP: apt mirrors"
    protocol    = "tcp"
    from_port   = 80
    to_port     = 80
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "UDP: DNS, NTP and Tailscale's direct peer paths (else it relays over 443)"
    protocol    = "udp"
    from_port   = 0
    to_port     = 65535
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = {
    Name = "demo"
  }
}

resource "aws_key_pair" "moat" {
  key_name   = "demo"
  public_key = var.ssh_public_key
}

resource "aws_instance" "moat" {
  ami                         = data.aws_ssm_parameter.ubuntu.insecure_value
  instance_type               = "t4g.small"
  subnet_id                   = aws_subnet.moat.id
  vpc_security_group_ids      = [aws_security_group.moat.id]
  associate_public_ip_address = true
  key_name                    = aws_key_pair.moat.key_name
  user_data                   = file("${path.module}/../cloud-init/user-data.yaml")

  # IMDSv2 only, one hop, no tags in metadata.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    http_protocol_ipv6          = "disabled"
    instance_metadata_tags      = "disabled"
  }
  # T types default to unlimited credits, billed beyond the free tier.
  credit_specification {
    cpu_credits = "standard"
  }
  root_block_device {
    volume_size           = 20
    volume_type           = "gp3"
    encrypted             = true
    delete_on_termination = true
  }

  # A newer AMI or cloud-init must not replace a running agent; cloud-init runs once anyway.
  lifecycle {
    ignore_changes = [ami, user_data]
  }

  tags = {
    Name = "demo"
  }
}
