// Terraform for one EC2 VM: its own VPC and public subnet, a security group with no inbound
// port but path-MTU ICMP (SSH only from access.allowFrom), Canonical's Ubuntu 24.04 AMI from
// its public SSM parameter, IMDSv2 only with hop limit 1, standard CPU credits (a free-tier
// account must not bill by surprise), no instance profile (so IMDS holds no credentials), an
// encrypted gp3 root volume, and the rendered cloud-init as user_data. Credentials come from
// the usual AWS profile or environment, never from Moat.
import type { MoatSpec } from "../../spec/schema.js";
import { awsInstanceArch } from "../cloud-init.js";
import { attr, blank, block, comment, expr, type Item } from "./hcl.js";
import { egressRules, sshSources, USER_DATA_FILE } from "./shared.js";

type AwsTarget = Extract<MoatSpec["target"], { kind: "aws" }>;

const VPC_CIDR = "10.0.0.0/16";
const SUBNET_CIDR = "10.0.1.0/24";

export const AWS_PROVIDER = { source: "hashicorp/aws", version: "~> 6.0" };

// Only burstable (T) types take a credit specification.
const isBurstable = (instanceType: string) => /^t\d/.test(instanceType);
const ssmArch = (instanceType: string) => (awsInstanceArch(instanceType) === "arm64" ? "arm64" : "amd64");
const nameTag = (name: string) => attr("tags", { Name: name });

export const awsVariables = (): Item[] => [
  block(
    "variable",
    ["ssh_public_key"],
    [
      attr("description", "OpenSSH public key for the ubuntu user; moat deploy passes it with -var."),
      attr("type", expr("string")),
    ],
  ),
];

function securityGroup(spec: MoatSpec): Item {
  const ssh = sshSources(spec);
  return block(
    "resource",
    ["aws_security_group", "moat"],
    [
      // AWS refuses group names starting with sg-, which a deployment name may.
      attr("name", `moat-${spec.name}`),
      attr("description", "Moat: no inbound port; Tailscale needs none"),
      attr("vpc_id", expr("aws_vpc.moat.id")),
      blank,
      block(
        "ingress",
        [],
        [
          attr("description", "Path MTU discovery (fragmentation needed)"),
          attr("protocol", "icmp"),
          comment("For ICMP these are the type and the code."),
          attr("from_port", 3),
          attr("to_port", 4),
          attr("cidr_blocks", ["0.0.0.0/0"]),
        ],
      ),
      ...(ssh.length
        ? [
            block(
              "ingress",
              [],
              [
                attr("description", "SSH from access.allowFrom"),
                attr("protocol", "tcp"),
                attr("from_port", 22),
                attr("to_port", 22),
                attr("cidr_blocks", ssh),
              ],
            ),
          ]
        : []),
      comment("Terraform drops AWS's allow-all egress rule; these replace it."),
      ...egressRules().map((r) =>
        block(
          "egress",
          [],
          [
            attr("description", r.why),
            attr("protocol", r.protocol),
            attr("from_port", r.port ?? 0),
            attr("to_port", r.port ?? 65535),
            attr("cidr_blocks", ["0.0.0.0/0"]),
          ],
        ),
      ),
      blank,
      nameTag(spec.name),
    ],
  );
}

export function awsMain(spec: MoatSpec, target: AwsTarget): Item[] {
  const name = spec.name;
  return [
    comment(`Moat "${name}": one EC2 VM, reachable over Tailscale with no inbound port.`),
    blank,
    comment("Canonical publishes the current Ubuntu 24.04 AMI id for each region here."),
    block(
      "data",
      ["aws_ssm_parameter", "ubuntu"],
      [
        attr(
          "name",
          `/aws/service/canonical/ubuntu/server/24.04/stable/current/${ssmArch(target.instanceType)}/hvm/ebs-gp3/ami-id`,
        ),
      ],
    ),
    comment(`A zone that offers ${target.instanceType}: not every zone offers every type.`),
    block(
      "data",
      ["aws_ec2_instance_type_offerings", "moat"],
      [
        attr("location_type", "availability-zone"),
        block("filter", [], [attr("name", "instance-type"), attr("values", [target.instanceType])]),
      ],
    ),
    block(
      "resource",
      ["aws_vpc", "moat"],
      [
        attr("cidr_block", VPC_CIDR),
        attr("enable_dns_support", true),
        attr("enable_dns_hostnames", true),
        nameTag(name),
      ],
    ),
    block(
      "resource",
      ["aws_internet_gateway", "moat"],
      [attr("vpc_id", expr("aws_vpc.moat.id")), nameTag(name)],
    ),
    block(
      "resource",
      ["aws_subnet", "moat"],
      [
        attr("vpc_id", expr("aws_vpc.moat.id")),
        attr("cidr_block", SUBNET_CIDR),
        attr("availability_zone", expr("sort(data.aws_ec2_instance_type_offerings.moat.locations)[0]")),
        attr("map_public_ip_on_launch", true),
        nameTag(name),
      ],
    ),
    block(
      "resource",
      ["aws_route_table", "moat"],
      [
        attr("vpc_id", expr("aws_vpc.moat.id")),
        blank,
        block(
          "route",
          [],
          [attr("cidr_block", "0.0.0.0/0"), attr("gateway_id", expr("aws_internet_gateway.moat.id"))],
        ),
        blank,
        nameTag(name),
      ],
    ),
    block(
      "resource",
      ["aws_route_table_association", "moat"],
      [
        attr("subnet_id", expr("aws_subnet.moat.id")),
        attr("route_table_id", expr("aws_route_table.moat.id")),
      ],
    ),
    securityGroup(spec),
    block(
      "resource",
      ["aws_key_pair", "moat"],
      [attr("key_name", name), attr("public_key", expr("var.ssh_public_key"))],
    ),
    block(
      "resource",
      ["aws_instance", "moat"],
      [
        attr("ami", expr("data.aws_ssm_parameter.ubuntu.insecure_value")),
        attr("instance_type", target.instanceType),
        attr("subnet_id", expr("aws_subnet.moat.id")),
        attr("vpc_security_group_ids", [expr("aws_security_group.moat.id")]),
        attr("associate_public_ip_address", true),
        attr("key_name", expr("aws_key_pair.moat.key_name")),
        attr("user_data", expr(`file(${USER_DATA_FILE})`)),
        blank,
        comment("IMDSv2 only, one hop, no tags in metadata."),
        block(
          "metadata_options",
          [],
          [
            attr("http_endpoint", "enabled"),
            attr("http_tokens", "required"),
            attr("http_put_response_hop_limit", 1),
            attr("http_protocol_ipv6", "disabled"),
            attr("instance_metadata_tags", "disabled"),
          ],
        ),
        ...(isBurstable(target.instanceType)
          ? [
              comment("T types default to unlimited credits, billed beyond the free tier."),
              block("credit_specification", [], [attr("cpu_credits", "standard")]),
            ]
          : []),
        block(
          "root_block_device",
          [],
          [
            attr("volume_size", target.volumeGb),
            attr("volume_type", "gp3"),
            attr("encrypted", true),
            attr("delete_on_termination", true),
          ],
        ),
        blank,
        comment("A newer AMI or cloud-init must not replace a running agent; cloud-init runs once anyway."),
        block("lifecycle", [], [attr("ignore_changes", [expr("ami"), expr("user_data")])]),
        blank,
        nameTag(name),
      ],
    ),
  ];
}

export const awsOutputs = (): Item[] => [
  block("output", ["public_ip"], [attr("value", expr("aws_instance.moat.public_ip"))]),
  block("output", ["instance_id"], [attr("value", expr("aws_instance.moat.id"))]),
];

export const awsProvider = (spec: MoatSpec, target: AwsTarget): Item =>
  block(
    "provider",
    ["aws"],
    [
      attr("region", target.region),
      blank,
      block("default_tags", [], [attr("tags", { "moat-deployment": spec.name })]),
    ],
  );
