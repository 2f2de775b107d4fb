// Terraform for one Ampere A1 VM on Oracle Cloud: its network (a new VCN, or a subnet in an
// existing one), a security list with no inbound port but path-MTU ICMP (Tailscale needs none;
// SSH only from access.allowFrom), the latest Canonical Ubuntu 24.04 image for the shape, and
// the rendered cloud-init as user_data. Credentials come from ~/.oci/config, never from Moat.
import type { MoatSpec } from "../../spec/schema.js";
import { attr, blank, block, comment, expr, type Item } from "./hcl.js";
import { egressRules, sshSources, USER_DATA_FILE } from "./shared.js";

type OciTarget = Extract<MoatSpec["target"], { kind: "oci" }>;

const SHAPE = "VM.Standard.A1.Flex";
const VCN_CIDR = "10.0.0.0/16";
const SUBNET_CIDR = "10.0.1.0/24";
// OCI numbers protocols as IANA does.
const PROTOCOL = { icmp: "1", tcp: "6", udp: "17" } as const;

export const OCI_PROVIDER = { source: "oracle/oci", version: "~> 8.0" };

export function ociVariables(target: OciTarget): Item[] {
  return [
    block(
      "variable",
      ["ssh_public_key"],
      [
        attr("description", "OpenSSH public key for the ubuntu user; moat deploy passes it with -var."),
        attr("type", expr("string")),
      ],
    ),
    block(
      "variable",
      ["availability_domain_index"],
      [
        attr(
          "description",
          "Which availability domain (sorted by name) to launch in; deploy moves on when one is out of host capacity.",
        ),
        attr("type", expr("number")),
        attr("default", 0),
      ],
    ),
    ...(target.compartmentId
      ? []
      : [
          block(
            "variable",
            ["tenancy_ocid"],
            [
              attr(
                "description",
                "Tenancy OCID: its root compartment holds everything (target.compartmentId is unset).",
              ),
              attr("type", expr("string")),
            ],
          ),
        ]),
    ...(target.vcnId
      ? [
          block(
            "variable",
            ["subnet_cidr"],
            [
              attr("description", `A free CIDR inside the existing VCN ${target.vcnId} for Moat's subnet.`),
              attr("type", expr("string")),
            ],
          ),
        ]
      : []),
    block(
      "variable",
      ["oci_config_profile"],
      [
        attr("description", "Profile in ~/.oci/config holding the API key."),
        attr("type", expr("string")),
        attr("default", "DEFAULT"),
      ],
    ),
  ];
}

function securityRules(spec: MoatSpec): Item[] {
  const icmpFragmentationNeeded = block(
    "ingress_security_rules",
    [],
    [
      attr("description", "Path MTU discovery (fragmentation needed), as OCI's default list allows"),
      attr("protocol", PROTOCOL.icmp),
      attr("source", "0.0.0.0/0"),
      block("icmp_options", [], [attr("type", 3), attr("code", 4)]),
    ],
  );
  const ssh = sshSources(spec).map((cidr) =>
    block(
      "ingress_security_rules",
      [],
      [
        attr("description", "SSH from access.allowFrom"),
        attr("protocol", PROTOCOL.tcp),
        attr("source", cidr),
        block("tcp_options", [], [attr("min", 22), attr("max", 22)]),
      ],
    ),
  );
  const egress = egressRules().map((r) =>
    block(
      "egress_security_rules",
      [],
      [
        attr("description", r.why),
        attr("protocol", PROTOCOL[r.protocol]),
        attr("destination", "0.0.0.0/0"),
        ...(r.port ? [block(`${r.protocol}_options`, [], [attr("min", r.port), attr("max", r.port)])] : []),
      ],
    ),
  );
  return [...egress, icmpFragmentationNeeded, ...ssh];
}

function network(spec: MoatSpec, target: OciTarget): Item[] {
  const name = spec.name;
  const common = [attr("compartment_id", expr("local.compartment_id")), attr("vcn_id", expr("local.vcn_id"))];
  const gateway = target.vcnId
    ? [
        block("data", ["oci_core_vcn", "existing"], [attr("vcn_id", target.vcnId)]),
        block(
          "data",
          ["oci_core_internet_gateways", "existing"],
          [
            attr("compartment_id", expr("data.oci_core_vcn.existing.compartment_id")),
            attr("vcn_id", target.vcnId),
          ],
        ),
      ]
    : [
        block(
          "resource",
          ["oci_core_vcn", "moat"],
          [
            attr("compartment_id", expr("local.compartment_id")),
            attr("cidr_blocks", [VCN_CIDR]),
            attr("display_name", name),
            attr("dns_label", "moat"),
          ],
        ),
        comment(
          "The VCN's default security list lets SSH in from anywhere; Moat's subnet does not use it,\nand emptied it cannot open a subnet added later either.",
        ),
        block(
          "resource",
          ["oci_core_default_security_list", "moat"],
          [
            attr("manage_default_resource_id", expr("oci_core_vcn.moat.default_security_list_id")),
            attr("display_name", `${name}-default-closed`),
          ],
        ),
        block(
          "resource",
          ["oci_core_internet_gateway", "moat"],
          [...common, attr("display_name", name), attr("enabled", true)],
        ),
      ];
  const gatewayId = target.vcnId
    ? "data.oci_core_internet_gateways.existing.gateways[0].id"
    : "oci_core_internet_gateway.moat.id";
  const routeTableItems: Item[] = [
    ...common,
    attr("display_name", name),
    block(
      "route_rules",
      [],
      [
        attr("destination", "0.0.0.0/0"),
        attr("destination_type", "CIDR_BLOCK"),
        attr("network_entity_id", expr(gatewayId)),
      ],
    ),
  ];
  if (target.vcnId) {
    routeTableItems.push(
      block(
        "lifecycle",
        [],
        [
          block(
            "precondition",
            [],
            [
              attr("condition", expr("length(data.oci_core_internet_gateways.existing.gateways) > 0")),
              attr(
                "error_message",
                `VCN ${target.vcnId} has no internet gateway; add one or leave target.vcnId unset.`,
              ),
            ],
          ),
        ],
      ),
    );
  }
  return [
    ...gateway,
    block("resource", ["oci_core_route_table", "moat"], routeTableItems),
    block(
      "resource",
      ["oci_core_security_list", "moat"],
      [...common, attr("display_name", name), blank, ...securityRules(spec)],
    ),
    block(
      "resource",
      ["oci_core_subnet", "moat"],
      [
        ...common,
        attr("cidr_block", target.vcnId ? expr("var.subnet_cidr") : SUBNET_CIDR),
        attr("display_name", name),
        // An existing VCN may have no DNS label, and then its subnets may not have one.
        ...(target.vcnId ? [] : [attr("dns_label", "moat")]),
        attr("route_table_id", expr("oci_core_route_table.moat.id")),
        attr("security_list_ids", [expr("oci_core_security_list.moat.id")]),
        attr("prohibit_public_ip_on_vnic", false),
      ],
    ),
  ];
}

export function ociMain(spec: MoatSpec, target: OciTarget): Item[] {
  return [
    comment(
      `Moat "${spec.name}": one Ampere A1 VM on Oracle Cloud, reachable over Tailscale with no inbound port.`,
    ),
    blank,
    block(
      "locals",
      [],
      [
        attr("compartment_id", target.compartmentId ?? expr("var.tenancy_ocid")),
        attr("vcn_id", target.vcnId ?? expr("oci_core_vcn.moat.id")),
      ],
    ),
    block(
      "data",
      ["oci_identity_availability_domains", "all"],
      [attr("compartment_id", expr("local.compartment_id"))],
    ),
    comment("Canonical's newest Ubuntu 24.04 build for the A1 shape (so aarch64)."),
    block(
      "data",
      ["oci_core_images", "ubuntu"],
      [
        attr("compartment_id", expr("local.compartment_id")),
        attr("operating_system", "Canonical Ubuntu"),
        attr("operating_system_version", "24.04"),
        attr("shape", SHAPE),
        attr("sort_by", "TIMECREATED"),
        attr("sort_order", "DESC"),
      ],
    ),
    ...network(spec, target),
    block(
      "resource",
      ["oci_core_instance", "moat"],
      [
        attr(
          "availability_domain",
          expr(
            "element(sort(data.oci_identity_availability_domains.all.availability_domains[*].name), var.availability_domain_index)",
          ),
        ),
        attr("compartment_id", expr("local.compartment_id")),
        attr("display_name", spec.name),
        attr("shape", SHAPE),
        blank,
        block("shape_config", [], [attr("ocpus", target.ocpus), attr("memory_in_gbs", target.memoryGb)]),
        block(
          "source_details",
          [],
          [
            attr("source_type", "image"),
            attr("source_id", expr("data.oci_core_images.ubuntu.images[0].id")),
            attr("boot_volume_size_in_gbs", target.bootVolumeGb),
          ],
        ),
        block(
          "create_vnic_details",
          [],
          [
            attr("subnet_id", expr("oci_core_subnet.moat.id")),
            attr("assign_public_ip", true),
            // A host name needs a subnet with a DNS label, which a subnet in an existing VCN lacks.
            ...(target.vcnId ? [] : [attr("hostname_label", spec.name)]),
          ],
        ),
        comment("Only the /opc/v2 metadata endpoints, which need the Authorization header."),
        block("instance_options", [], [attr("are_legacy_imds_endpoints_disabled", true)]),
        attr("metadata", {
          ssh_authorized_keys: expr("var.ssh_public_key"),
          user_data: expr(`filebase64(${USER_DATA_FILE})`),
        }),
        blank,
        comment("A newer image must not replace a running agent; cloud-init runs once anyway."),
        block(
          "lifecycle",
          [],
          [attr("ignore_changes", [expr("source_details[0].source_id"), expr("metadata")])],
        ),
      ],
    ),
  ];
}

export const ociOutputs = (): Item[] => [
  block("output", ["public_ip"], [attr("value", expr("oci_core_instance.moat.public_ip"))]),
  block("output", ["instance_id"], [attr("value", expr("oci_core_instance.moat.id"))]),
];

export const ociProvider = (target: OciTarget): Item =>
  block(
    "provider",
    ["oci"],
    [attr("region", target.region), attr("config_file_profile", expr("var.oci_config_profile"))],
  );
