// `moat lab`: a simulated free-tier VM on this machine. `up` builds the cloud (metadata service
// behind OCI's ACCEPT chain, resolver) and a fake internet in namespaces linked only to each
// other, boots a Debian VM among them, converges it with `moat host apply` and runs `moat verify`
// inside, all from the user's moat.yaml. State lives in /run/moat-lab/<name>; `down` removes
// everything by name and pid.

import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { MoatError } from "../errors.js";
import { packageRoot } from "../host/runtime.js";
import { type MoatSpec, OPENCLAW_VERSION } from "../spec/schema.js";
import { llmApiKeyField, TELEGRAM_BOT_TOKEN_FIELD } from "../spec/secrets.js";
import { type CloudConfig, CONTROL_SOCKET, EVENTS_FILE } from "./cloud.js";
import { installInstanceServices } from "./cloud-firewall.js";
import {
  addNamespace,
  addressHolder,
  inNs,
  linkNamespaces,
  namespaceExists,
  removeNamespace,
} from "./netns.js";
import { buildOpenclawImage } from "./openclaw-image.js";
import { stageLabPackage } from "./package.js";
import { makeTestPki } from "./pki.js";
import { provisionVm, VM_IMAGE_TAR, VM_NODE, VM_PACKAGE, VM_SPEC } from "./provision.js";
import { baseRootfsReady, ensureBaseRootfs } from "./rootfs.js";
import { LabVm, processAlive } from "./vm.js";
import { LAB_ADDRESSES, labNamespaces, labSecrets, labWorld } from "./world.js";

// Where provisioning put Moat, its Node and the spec in the VM (the lab's commands run them).
export { VM_NODE, VM_PACKAGE, VM_SPEC } from "./provision.js";

const LAB_STATE_ROOT = process.env.MOAT_LAB_STATE ?? "/run/moat-lab";
const LAB_DISKS = process.env.MOAT_LAB_DISKS ?? "/var/lib/moat-lab";
const VM_CA = "/etc/moat-lab/ca.pem";

export interface LabState {
  name: string;
  flavour: string;
  namespaces: { vm: string; cloud: string };
  nspawnPid: number;
  cloudPid: number;
  rootfs: string;
  startedAt: string;
}

export type Progress = (step: string, detail: string) => void;

export const stateDir = (name: string) => join(LAB_STATE_ROOT, name);

export function readState(name: string): LabState | undefined {
  const file = join(stateDir(name), "state.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as LabState) : undefined;
}

export function labVm(state: LabState): LabVm {
  return new LabVm(
    `moat-lab-${state.name}`,
    state.namespaces.vm,
    state.rootfs,
    join(stateDir(state.name), "console.log"),
    state.nspawnPid,
  );
}

export class LabError extends MoatError {
  override readonly name = "LabError";
  readonly code = "MOAT_LAB";
}

function preflight(spec: MoatSpec, imageTar: string | undefined): void {
  if (process.getuid?.() !== 0)
    throw new LabError("moat lab runs as root (it makes network namespaces and boots a VM)");
  if (spec.target.kind !== "lab")
    throw new LabError(`target.kind is "${spec.target.kind}"; moat lab runs specs with target.kind: lab`);
  if (spec.access.tailscale)
    throw new LabError(
      "access.tailscale: the lab has no tailnet to join; remove access.tailscale for the lab",
    );
  // The openclaw profile's image is built here from the pinned npm packages (openclaw-image.ts).
  if (!imageTar && spec.agent.profile !== "openclaw")
    throw new LabError(
      `agent.image ${spec.agent.image}: the lab reaches no container registry; pass --import-image <rootfs.tar> to import it`,
    );
  if (imageTar && !existsSync(imageTar)) throw new LabError(`--import-image: ${imageTar} does not exist`);
  const need = [
    "ip",
    "systemd-nspawn",
    "nsenter",
    "iptables",
    "openssl",
    ...(baseRootfsReady() ? [] : ["debootstrap"]),
  ];
  const missing = need.filter((c) => spawnSync("sh", ["-c", `command -v ${c}`]).status !== 0);
  if (missing.length)
    throw new LabError(
      `missing on this machine: ${missing.join(", ")} (scripts/system-deps.sh installs them)`,
    );
}

function buildNetwork(world: ReturnType<typeof labWorld>): void {
  const { vm, cloud } = world.namespaces;
  for (const ns of [vm, cloud]) {
    removeNamespace(ns);
    addNamespace(ns);
  }
  linkNamespaces(
    { ns: vm, ifname: "eth0", addrs: [`${LAB_ADDRESSES.vm}/24`, `${LAB_ADDRESSES.vmV6}/64`] },
    { ns: cloud, ifname: "vcn0", addrs: [`${LAB_ADDRESSES.router}/24`, `${LAB_ADDRESSES.routerV6}/64`] },
  );
  inNs(vm, "ip", "route", "add", "default", "via", LAB_ADDRESSES.router);
  inNs(vm, "ip", "-6", "route", "add", "default", "via", LAB_ADDRESSES.routerV6);
  const services = [world.metadata.v4, world.metadata.resolver].filter((a, i, all) => all.indexOf(a) === i);
  addressHolder(cloud, "imds0", [...services.map((a) => `${a}/32`), `${world.metadata.v6}/128`]);
  const internet = [LAB_ADDRESSES.llm, LAB_ADDRESSES.telegram, LAB_ADDRESSES.site, LAB_ADDRESSES.unlisted];
  addressHolder(
    cloud,
    "inet0",
    internet.map((a) => `${a}/32`),
  );
  // The gateway's interface, which moat-gateway-net.service would create as a dummy link.
  addressHolder(vm, "moat0", []);
  if (world.flavour === "oci") installInstanceServices(vm, world.metadata);
}

async function startCloud(dir: string, cloudNs: string): Promise<number> {
  const log = openSync(join(dir, "cloud.log"), "a");
  const bin = join(packageRoot(), "bin/moat.js");
  const child = spawn("ip", ["netns", "exec", cloudNs, process.execPath, bin, "lab", "cloud-services", dir], {
    stdio: ["ignore", log, log],
    detached: true,
  });
  child.unref();
  const deadline = Date.now() + 20_000;
  const events = join(dir, EVENTS_FILE);
  while (Date.now() < deadline) {
    if (existsSync(events) && readFileSync(events, "utf8").includes('"kind":"ready"')) return child.pid ?? 0;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new LabError(
    `the lab's cloud services did not start:\n${readFileSync(join(dir, "cloud.log"), "utf8")}`,
  );
}

// Imported under the spec's image name (the pinned official one by default), so the same moat.yaml
// runs in the lab and on a real VM, where that image is pulled.
function openclawImage(spec: MoatSpec, progress: Progress): string {
  progress("image", `OpenClaw ${OPENCLAW_VERSION} image for ${spec.agent.image}: from npm, no registry`);
  const prefix = process.env.MOAT_OPENCLAW_PREFIX;
  const image = buildOpenclawImage({ ...(prefix && { prefix }), log: (line) => progress("image", line) });
  return image.tar;
}

export interface UpOptions {
  specText: string;
  imageTar?: string;
  progress: Progress;
}

// Returns the exit code of `moat verify` inside the VM.
export async function labUp(
  spec: MoatSpec,
  opts: UpOptions,
): Promise<{ applyCode: number; verifyCode: number }> {
  preflight(spec, opts.imageTar);
  const world = labWorld(spec);
  const dir = stateDir(spec.name);
  const existing = readState(spec.name);
  if (existing && processAlive(existing.nspawnPid))
    throw new LabError(
      `lab ${spec.name} is already up; \`moat lab verify\` checks it, \`moat lab down\` removes it`,
    );
  await labDown(spec.name, () => {});
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { progress } = opts;

  progress(
    "base",
    baseRootfsReady()
      ? "Debian 13 base image: cached"
      : "Debian 13 base image: building once (about a minute)",
  );
  const base = ensureBaseRootfs();
  progress("package", "Moat package for the VM");
  const pkg = stageLabPackage();

  const imageTar = opts.imageTar ?? openclawImage(spec, progress);

  progress(
    "network",
    `namespaces ${world.namespaces.vm}, ${world.namespaces.cloud} (linked only to each other)`,
  );
  buildNetwork(world);

  progress(
    "cloud",
    `${world.flavour} metadata at ${world.metadata.v4} and [${world.metadata.v6}], resolver, fake internet`,
  );
  const secrets = labSecrets(spec);
  const keyFor = (kind: string) => {
    const i = spec.llm.findIndex((p) =>
      kind === "openai" ? ["openai", "openrouter", "openai-compatible"].includes(p.kind) : p.kind === kind,
    );
    return secrets.find((s) => s.field === llmApiKeyField(i))?.value ?? "no-such-provider";
  };
  const pki = makeTestPki(world.tlsNames);
  const cloud: CloudConfig = {
    name: spec.name,
    flavour: world.flavour,
    metadata: world.metadata,
    zone: world.zone,
    addresses: {
      llm: LAB_ADDRESSES.llm,
      telegram: LAB_ADDRESSES.telegram,
      site: LAB_ADDRESSES.site,
      unlisted: LAB_ADDRESSES.unlisted,
    },
    tls: { cert: pki.cert, key: pki.key },
    llmKeys: { anthropic: keyFor("anthropic"), openai: keyFor("openai"), gemini: keyFor("gemini") },
    botToken: secrets.find((s) => s.field === TELEGRAM_BOT_TOKEN_FIELD)?.value ?? "",
  };
  writeFileSync(join(dir, "cloud.json"), JSON.stringify(cloud), { mode: 0o600 });
  const cloudPid = await startCloud(dir, world.namespaces.cloud);

  progress("vm", "copying the base and booting it under systemd-nspawn");
  const rootfs = join(LAB_DISKS, spec.name, "rootfs");
  const vm = new LabVm(`moat-lab-${spec.name}`, world.namespaces.vm, rootfs, join(dir, "console.log"));
  const secretFiles = secrets.flatMap((s) =>
    "file" in s.ref ? [[s.ref.file, { content: `${s.value}\n`, mode: 0o600 }] as const] : [],
  );
  provisionVm(vm, base, {
    specText: opts.specText,
    packageDir: pkg,
    imageTar,
    files: {
      [VM_CA]: { content: pki.ca },
      // The gateway trusts the lab's CA for the fake providers, as it trusts public CAs on a real VM.
      "/etc/systemd/system/moat-gateway.service.d/lab-ca.conf": {
        content: `[Service]\nEnvironment=NODE_EXTRA_CA_CERTS=${VM_CA}\n`,
      },
      ...Object.fromEntries(secretFiles),
    },
  });
  // Unlinked first: the copied resolv.conf may be a symlink, and following it would write ours.
  const resolv = join(rootfs, "etc/resolv.conf");
  if (existsSync(resolv) || spawnSync("test", ["-L", resolv]).status === 0) unlinkSync(resolv);
  writeFileSync(resolv, `nameserver ${world.metadata.resolver}\n`);
  const state: LabState = {
    name: spec.name,
    flavour: world.flavour,
    namespaces: world.namespaces,
    nspawnPid: 0,
    cloudPid,
    rootfs,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(join(dir, "state.json"), JSON.stringify(state, null, 2));
  await vm.boot();
  state.nspawnPid = vm.nspawnPid;
  writeFileSync(join(dir, "state.json"), JSON.stringify(state, null, 2));

  progress("apply", "moat host apply inside the VM");
  const env = Object.fromEntries(secrets.flatMap((s) => ("env" in s.ref ? [[s.ref.env, s.value]] : [])));
  const applyCode = vm.execInherit(
    [VM_NODE, `${VM_PACKAGE}/bin/moat.js`, "host", "apply", "-c", VM_SPEC, "--import-image", VM_IMAGE_TAR],
    env,
  );
  if (applyCode !== 0) return { applyCode, verifyCode: -1 };
  progress("verify", "moat verify inside the VM");
  return { applyCode, verifyCode: labVerify(spec.name, []) };
}

const VM_JUNIT = "/root/moat-verify-junit.xml";

// `moat verify` inside the VM; a JUnit report is written there and copied out to `junitOut`.
export function labVerify(name: string, args: string[], junitOut?: string): number {
  const state = readState(name);
  if (!state || !processAlive(state.nspawnPid))
    throw new LabError(`lab ${name} is not up; \`moat lab up\` first`);
  const junit = junitOut ? ["--junit", VM_JUNIT] : [];
  const code = labVm(state).execInherit([
    VM_NODE,
    `${VM_PACKAGE}/bin/moat.js`,
    "verify",
    "-c",
    VM_SPEC,
    ...args,
    ...junit,
  ]);
  if (junitOut) copyFileSync(join(state.rootfs, VM_JUNIT), junitOut);
  return code;
}

// Removes whatever of the lab exists, state or not; returns what it removed.
export async function labDown(name: string, progress: Progress): Promise<string[]> {
  const removed: string[] = [];
  const state = readState(name);
  if (state && processAlive(state.nspawnPid)) {
    progress("vm", "powering off");
    await labVm(state).poweroff();
    removed.push(`VM (nspawn pid ${state.nspawnPid})`);
  }
  if (state && processAlive(state.cloudPid)) {
    process.kill(state.cloudPid, "SIGKILL");
    removed.push(`cloud services (pid ${state.cloudPid})`);
  }
  for (const ns of Object.values(state?.namespaces ?? labNamespaces(name))) {
    if (removeNamespace(ns)) removed.push(`namespace ${ns}`);
  }
  const disk = join(LAB_DISKS, name);
  if (existsSync(disk)) {
    progress("disk", `removing ${disk}`);
    rmSync(disk, { recursive: true, force: true });
    removed.push(disk);
  }
  if (existsSync(stateDir(name))) {
    rmSync(stateDir(name), { recursive: true, force: true });
    removed.push(stateDir(name));
  }
  return removed;
}

export interface LabStatus {
  name: string;
  up: boolean;
  vm: string;
  cloud: string;
  namespaces: Record<string, boolean>;
  startedAt?: string;
}

export function labStatus(name: string): LabStatus {
  const state = readState(name);
  const namespaces = Object.fromEntries(
    Object.values(state?.namespaces ?? labNamespaces(name)).map((ns) => [ns, namespaceExists(ns)]),
  );
  if (!state) return { name, up: false, vm: "absent", cloud: "absent", namespaces };
  const vmUp = processAlive(state.nspawnPid);
  const system = vmUp ? labVm(state).exec(["systemctl", "is-system-running"]).stdout.trim() : "absent";
  return {
    name,
    up: vmUp && processAlive(state.cloudPid),
    vm: vmUp ? `running (systemd: ${system}, nspawn pid ${state.nspawnPid})` : "absent",
    cloud: processAlive(state.cloudPid) ? `running (pid ${state.cloudPid})` : "absent",
    namespaces,
    startedAt: state.startedAt,
  };
}

// What the lab's cloud saw: metadata requests, DNS queries, provider and Bot API calls, site hits.
export function labEvents(name: string): Record<string, unknown>[] {
  const file = join(stateDir(name), EVENTS_FILE);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

// Hands updates to the fake Bot API (as if people wrote to the bot); returns their update ids.
export function pushTelegramUpdates(name: string, updates: Record<string, unknown>[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: join(stateDir(name), CONTROL_SOCKET), path: "/telegram/updates", method: "POST" },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => {
          body += d.toString();
        });
        res.on("end", () =>
          res.statusCode === 200
            ? resolve((JSON.parse(body) as { pushed: number[] }).pushed)
            : reject(new Error(`lab control socket answered ${res.statusCode}: ${body}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(updates));
  });
}
