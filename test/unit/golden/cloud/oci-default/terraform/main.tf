# Moat "demo": one Ampere A1 VM on Oracle Cloud, reachable over Tailscale with no inbound port.

locals {
  compartment_id = var.tenancy_ocid
  vcn_id         = oci_core_vcn.moat.id
}

data "oci_identity_availability_domains" "all" {
  compartment_id = local.compartment_id
}

# Canonical's newest Ubuntu 24.04 build for the A1 shape (so aarch64).
data "oci_core_images" "ubuntu" {
  compartment_id           = local.compartment_id
  operating_system         = "Canonical Ubuntu"
  operating_system_version = "24.04"
  shape                    = "VM.Standard.A1.Flex"
  sort_by                  = "TIMECREATED"
  sort_order               = "DESC"
}

resource "oci_core_vcn" "moat" {
  compartment_id = local.compartment_id
  cidr_blocks    = ["10.0.0.0/16"]
  display_name   = "demo"
  dns_label      = "moat"
}

# The VCN's default security list lets SSH in from anywhere; Moat's subnet does not use it,
# and emptied it cannot open a subnet added later either.
resource "oci_core_default_security_list" "moat" {
  manage_default_resource_id = oci_core_vcn.moat.default_security_list_id
  display_name               = "demo-default-closed"
}

resource "oci_core_internet_gateway" "moat" {
  compartment_id = local.compartment_id
  vcn_id         = local.vcn_id
  display_name   = "demo"
  enabled        = true
}

resource "oci_core_route_table" "moat" {
  compartment_id = local.compartment_id
  vcn_id         = local.vcn_id
  display_name   = "demo"
  route_rules {
    destination       = "0.0.0.0/0"
    destination_type  = "CIDR_BLOCK"
    network_entity_id = oci_core_internet_gateway.moat.id
  }
}

resource "oci_core_security_list" "moat" {
  compartment_id = local.compartment_id
  vcn_id         = local.vcn_id
  display_name   = "demo"

  egress_security_rules {
    description = "HTTPS: apt, Tailscale, the gateway's upstreams"
    protocol    = "6"
    destination = "0.0.0.0/0"
    tcp_options {
      min = 443
      max = 443
    }
  }
  egress_security_rules {
    description = "HTTP: apt mirrors"
    protocol    = "6"
    destination = "0.0.0.0/0"
    tcp_options {
      min = 80
      max = 80
    }
  }
  egress_security_rules {
    description = "UDP: DNS, NTP and Tailscale's direct peer paths (else it relays over 443)"
    protocol    = "17"
    destination = "0.0.0.0/0"
  }
  ingress_security_rules {
    description = "Path MTU discovery (fragmentation needed), as OCI's default list allows"
    protocol    = "1"
    source      = "0.0.0.0/0"
    icmp_options {
      type = 3
      code = 4
    }
  }
}

resource "oci_core_subnet" "moat" {
  compartment_id             = local.compartment_id
  vcn_id                     = local.vcn_id
  cidr_block                 = "10.0.1.0/24"
  display_name               = "demo"
  dns_label                  = "moat"
  route_table_id             = oci_core_route_table.moat.id
  security_list_ids          = [oci_core_security_list.moat.id]
  prohibit_public_ip_on_vnic = false
}

resource "oci_core_instance" "moat" {
  availability_domain = element(sort(data.oci_identity_availability_domains.all.availability_domains[*].name), var.availability_domain_index)
  compartment_id      = local.compartment_id
  display_name        = "demo"
  shape               = "VM.Standard.A1.Flex"

  shape_config {
    ocpus         = 2
    memory_in_gbs = 12
  }
  source_details {
    source_type             = "image"
    source_id               = data.oci_core_images.ubuntu.images[0].id
    boot_volume_size_in_gbs = 50
  }
  create_vnic_details {
    subnet_id        = oci_core_subnet.moat.id
    assign_public_ip = true
    hostname_label   = "demo"
  }
  # Only the /opc/v2 metadata endpoints, which need the Authorization header.
  instance_options {
    are_legacy_imds_endpoints_disabled = true
  }
  metadata = {
    ssh_authorized_keys = var.ssh_public_key
    user_data           = filebase64("${path.module}/../cloud-init/user-data.yaml")
  }

  # A newer image must not replace a running agent; cloud-init runs once anyway.
  lifecycle {
    ignore_changes = [source_details[0].source_id, metadata]
  }
}
