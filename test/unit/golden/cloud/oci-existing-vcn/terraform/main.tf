# Moat "agent-7": one Ampere A1 VM on Oracle Cloud, reachable over Tailscale with no inbound port.

locals {
  compartment_id = "ocid1.compartment.oc1..aaaa"
  vcn_id         = "ocid1.vcn.oc1.iad.bbbb"
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

data "oci_core_vcn" "existing" {
  vcn_id = "ocid1.vcn.oc1.iad.bbbb"
}

data "oci_core_internet_gateways" "existing" {
  compartment_id = data.oci_core_vcn.existing.compartment_id
  vcn_id         = "ocid1.vcn.oc1.iad.bbbb"
}

resource "oci_core_route_table" "moat" {
  compartment_id = local.compartment_id
  vcn_id         = local.vcn_id
  display_name   = "agent-7"
  route_rules {
    destination       = "0.0.0.0/0"
    destination_type  = "CIDR_BLOCK"
    network_entity_id = data.oci_core_internet_gateways.existing.gateways[0].id
  }
  lifecycle {
    precondition {
      condition     = length(data.oci_core_internet_gateways.existing.gateways) > 0
      error_message = "VCN ocid1.vcn.oc1.iad.bbbb has no internet gateway; add one or leave target.vcnId unset."
    }
  }
}

resource "oci_core_security_list" "moat" {
  compartment_id = local.compartment_id
  vcn_id         = local.vcn_id
  display_name   = "agent-7"

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
  ingress_security_rules {
    description = "SSH from access.allowFrom"
    protocol    = "6"
    source      = "203.0.113.7/32"
    tcp_options {
      min = 22
      max = 22
    }
  }
  ingress_security_rules {
    description = "SSH from access.allowFrom"
    protocol    = "6"
    source      = "198.51.100.0/24"
    tcp_options {
      min = 22
      max = 22
    }
  }
}

resource "oci_core_subnet" "moat" {
  compartment_id             = local.compartment_id
  vcn_id                     = local.vcn_id
  cidr_block                 = var.subnet_cidr
  display_name               = "agent-7"
  route_table_id             = oci_core_route_table.moat.id
  security_list_ids          = [oci_core_security_list.moat.id]
  prohibit_public_ip_on_vnic = false
}

resource "oci_core_instance" "moat" {
  availability_domain = element(sort(data.oci_identity_availability_domains.all.availability_domains[*].name), var.availability_domain_index)
  compartment_id      = local.compartment_id
  display_name        = "agent-7"
  shape               = "VM.Standard.A1.Flex"

  shape_config {
    ocpus         = 4
    memory_in_gbs = 24
  }
  source_details {
    source_type             = "image"
    source_id               = data.oci_core_images.ubuntu.images[0].id
    boot_volume_size_in_gbs = 100
  }
  create_vnic_details {
    subnet_id        = oci_core_subnet.moat.id
    assign_public_ip = true
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
