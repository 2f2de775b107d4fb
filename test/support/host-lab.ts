// A simulated cloud VM for host apply: the VM (nspawn, in namespace "vm") linked only to a
// "cloud" namespace holding a metadata service (IPv4 and IPv6) and some other host, with OCI's
// InstanceServices ACCEPT chain installed in the VM's namespace before Moat's table. Nothing
// links to this machine's own namespace.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ApplyReport } from "../../src/host/types.js";
import { addressHolder } from "../../src/lab/netns.js";
import { provisionVm, VM_IMAGE_TAR, VM_NODE, VM_PACKAGE, VM_SPEC } from "../../src/lab/provision.js";
import { LAB_RELEASE, type ReleaseName } from "../../src/lab/rootfs.js";
import { busyboxRootfsTar, stageLabPackage } from "./moat-package.js";
import { inNs, TestNet } from "./netns.js";
import { IMDS_V4, IMDS_V6, installInstanceServices } from "./oci-firewall.js";
import { startListener } from "./tcp-probe.js";
import { ensureBaseRootfs, removeStaleCopies, TestVm } from "./vm.js";

export { IMDS_V4, IMDS_V6 } from "./oci-firewall.js";
export const OTHER_V4 = "192.0.2.1";
export const OTHER_V6 = "2001:db8::1";
export const OTHER_PORT = 8080;
export { VM_IMAGE_TAR, VM_NODE, VM_PACKAGE, VM_SPEC } from "../../src/lab/provision.js";

export function labSpec(name: string, extra = "", target = "{ kind: lab }"): string {
  return `version: 1
name: ${name}
target: ${target}
agent:
  profile: custom
  image: moat-test/busybox:1.36
  command: ["sleep", "infinity"]
  port: 8080
  writablePaths: [/tmp]
access:
  sshUsers: [root]
${extra}`;
}

// A command prefix for the VM: run as the test spec's agent user (uid 2000) against its rootless Docker.
export const AS_AGENT = [
  "setpriv",
  "--reuid=2000",
  "--regid=2000",
  "--init-groups",
  "env",
  "XDG_RUNTIME_DIR=/run/user/2000",
  "DOCKER_HOST=unix:///run/user/2000/docker.sock",
  "HOME=/home/moat-agent",
];

export class HostLab {
  readonly net: TestNet;
  readonly vm: TestVm;
  vmNs = "";
  cloudNs = "";
  // Off: host apply gets no --import-image, so the agent's image is pulled.
  importImage = true;

  // imageTar: the rootfs tarball host apply imports as the agent's image (busybox by default),
  // with its `.changes.json` image config when one lies next to it. release: the system booted.
  constructor(
    readonly name: string,
    private readonly imageTar?: string,
    readonly release: ReleaseName = LAB_RELEASE,
  ) {
    this.net = new TestNet(`moat-h${name}`);
    this.vm = new TestVm(`moat-h${name}`, `moat-h${name}-vm`);
  }

  async up(specText: string): Promise<void> {
    removeStaleCopies();
    const base = ensureBaseRootfs(this.release);
    const pkg = stageLabPackage();
    this.vmNs = this.net.addNs("vm");
    this.cloudNs = this.net.addNs("cloud");
    this.net.link(this.vmNs, ["192.0.2.2/24", "2001:db8::2/64"], this.cloudNs, [
      `${OTHER_V4}/24`,
      `${OTHER_V6}/64`,
    ]);
    addressHolder(this.cloudNs, "imds0", [`${IMDS_V4}/32`, `${IMDS_V6}/128`]);
    inNs(this.vmNs, "ip", ["route", "add", "default", "via", OTHER_V4]);
    inNs(this.vmNs, "ip", ["-6", "route", "add", "default", "via", OTHER_V6]);
    // The gateway's interface, which moat-gateway-net.service would create as a dummy link.
    addressHolder(this.vmNs, "moat0", []);
    installInstanceServices(this.vmNs);
    await startListener(this.net, this.cloudNs, [
      `${IMDS_V4}:80`,
      `[${IMDS_V6}]:80`,
      `${OTHER_V4}:${OTHER_PORT}`,
      `[${OTHER_V6}]:${OTHER_PORT}`,
    ]);
    provisionVm(this.vm, base, {
      specText,
      packageDir: pkg,
      imageTar: this.imageTar ?? busyboxRootfsTar(),
    });
    await this.vm.boot();
  }

  // `moat host apply` inside the VM as root, with the JSON report parsed. `env` carries `{ env }`
  // secrets of the spec (passed by nsenter's `env -i`, which execs apply: they end up in apply's
  // environment, not in its argv).
  apply(
    args: string[] = [],
    env: Record<string, string> = {},
  ): {
    code: number;
    report: ApplyReport;
    stderr: string;
  } {
    const r = this.vm.exec(
      [
        VM_NODE,
        `${VM_PACKAGE}/bin/moat.js`,
        "host",
        "apply",
        "-c",
        VM_SPEC,
        "--json",
        ...(this.importImage ? ["--import-image", VM_IMAGE_TAR] : []),
        ...args,
      ],
      { timeoutMs: 300_000, env },
    );
    let report: ReturnType<HostLab["apply"]>["report"];
    try {
      report = JSON.parse(r.stdout);
    } catch {
      throw new Error(`host apply printed no report (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    return { code: r.code, report, stderr: r.stderr };
  }

  // A reboot as the VM's kernel would see it: the VM powers off, what the kernel held (its
  // namespace's rules, the gateway's address) is gone, the cloud image's own firewall comes back
  // first (as its netfilter-persistent does), then systemd boots the VM's disk again.
  async reboot(): Promise<void> {
    await this.vm.poweroff();
    inNs(this.vmNs, "nft", ["flush", "ruleset"]);
    // The unit's ExecStop deleted moat0 at shutdown; this machine has no dummy links, so the
    // stand-in comes back as at first boot, empty, for moat-gateway-net.service to address.
    if (spawnSync("ip", ["-n", this.vmNs, "link", "show", "moat0"]).status === 0)
      inNs(this.vmNs, "ip", ["link", "del", "moat0"]);
    addressHolder(this.vmNs, "moat0", []);
    installInstanceServices(this.vmNs);
    await this.vm.boot();
  }

  async down(): Promise<void> {
    try {
      await this.vm.destroy();
    } finally {
      this.net.cleanup();
    }
  }
}

// A fake `tailscale` package, for the test VM only: Tailscale's repository is unreachable here
// and a real node needs a tailnet (like the fake `tofu` of the deploy tests, this stands in for
// the one part that needs the outside world). Installed with dpkg so host apply sees the package
// as installed; its CLI records each argv (never reading more of the auth key than to check it
// was given a readable, non-empty file) and answers `status --json` and `serve status --json`
// from its state directory. `touch /var/lib/fake-tailscale/refuse-up` makes `up` fail.
export const FAKE_TAILSCALE_STATE = "/var/lib/fake-tailscale";
const FAKE_TAILSCALE_CLI = `#!/bin/bash
# Fake tailscale CLI for Moat's host-apply test VM (not Tailscale).
state=${FAKE_TAILSCALE_STATE}
mkdir -p "$state"
echo "$*" >> "$state/argv.log"
case "$1 $2" in
  "status --json")
    if [ -e "$state/running" ]; then printf '{\\n  "Version": "fake",\\n  "BackendState": "Running"\\n}\\n'
    else printf '{\\n  "Version": "fake",\\n  "BackendState": "NeedsLogin"\\n}\\n'; fi ;;
  "serve status")
    if [ -e "$state/serve.json" ]; then cat "$state/serve.json"; else echo '{}'; fi ;;
  "serve reset") rm -f "$state/serve.json" ;;
  "serve --bg")
    [ -e "$state/running" ] || { echo "not running" >&2; exit 1; }
    target="\${@: -1}"
    printf '{"TCP":{"443":{"HTTPS":true}},"Web":{"%s.fake.ts.net:443":{"Handlers":{"/":{"Proxy":"%s"}}}}}\\n' "$(cat "$state/hostname")" "$target" > "$state/serve.json" ;;
  up*)
    [ -e "$state/refuse-up" ] && { echo "backend error: invalid key" >&2; exit 1; }
    for a in "$@"; do
      case "$a" in
        --auth-key=file:*) keyfile="\${a#--auth-key=file:}" ;;
        --hostname=*) echo "\${a#--hostname=}" > "$state/hostname" ;;
      esac
    done
    [ -n "$keyfile" ] && [ -s "$keyfile" ] || { echo "no auth key file" >&2; exit 1; }
    touch "$state/running" ;;
esac
exit 0
`;

export function buildFakeTailscaleDeb(dir: string): string {
  const root = join(dir, "fake-tailscale");
  mkdirSync(join(root, "DEBIAN"), { recursive: true });
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  mkdirSync(join(root, "usr/lib/systemd/system"), { recursive: true });
  writeFileSync(
    join(root, "DEBIAN/control"),
    "Package: tailscale\nVersion: 0.0.0-moat-test-fake\nArchitecture: all\nMaintainer: Moat tests <tests@moat.invalid>\nDescription: fake tailscale CLI for Moat's host-apply test VM\n",
  );
  writeFileSync(join(root, "usr/bin/tailscale"), FAKE_TAILSCALE_CLI, { mode: 0o755 });
  writeFileSync(
    join(root, "usr/lib/systemd/system/tailscaled.service"),
    "[Unit]\nDescription=fake tailscaled (Moat test VM)\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n",
  );
  const deb = join(dir, "tailscale-fake.deb");
  execFileSync("dpkg-deb", ["--root-owner-group", "--build", root, deb], { stdio: "pipe" });
  return deb;
}

// A stand-in for the OpenClaw image, for the test VM (the real one is not reachable here): the
// busybox rootfs plus this machine's Node and the libraries it links, and a script answering
// OpenClaw's health check on its port. `docker import`ed by host apply like the busybox image.
export const STANDIN_SCRIPT = "/standin.js";
export function openclawStandinTar(dir: string, port: number): string {
  const tar = join(dir, "openclaw-standin.tar");
  execFileSync("cp", [busyboxRootfsTar(), tar]);
  const node = execFileSync("realpath", [process.execPath], { encoding: "utf8" }).trim();
  const libs = execFileSync("ldd", [node], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.match(/(\/\S+) \(0x/)?.[1])
    .filter((p): p is string => !!p)
    .map((p) => p.slice(1));
  const script = join(dir, "standin.js");
  writeFileSync(
    script,
    `require("node:http").createServer((q, s) => s.end("ok")).listen(${port}, "0.0.0.0");\n`,
  );
  // Every parent directory gets its own 0755 entry: Docker 20.10 (Debian 12) creates a parent the
  // tarball leaves implied with mode 0600, which the non-root agent cannot search.
  const parents = new Set<string>();
  for (const file of [...libs, "usr/local/bin/node"])
    for (let d = dirname(file); d !== "."; d = dirname(d)) parents.add(d);
  const stage = join(dir, "standin-dirs");
  for (const d of parents) mkdirSync(join(stage, d), { recursive: true, mode: 0o755 });
  execFileSync("tar", [
    "-rf",
    tar,
    "-C",
    stage,
    "--owner=0",
    "--group=0",
    "--mode=0755",
    "--no-recursion",
    ...[...parents].sort(),
  ]);
  execFileSync("tar", ["-rhf", tar, "-C", "/", ...libs]);
  execFileSync("tar", [
    "-rf",
    tar,
    "-C",
    "/",
    "--transform",
    `s|^${node.slice(1)}$|usr/local/bin/node|`,
    node.slice(1),
  ]);
  execFileSync("tar", ["-rf", tar, "-C", dir, "standin.js"]);
  return tar;
}
