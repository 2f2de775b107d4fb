// `moat deploy`, `moat status`, `moat destroy`: the imperative shell around the pure parts
// (plan, capacity, secrets, remote facts). Render → Terraform (clouds) → SSH → push → host
// apply → verify, each announced as it starts.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { ApplyReport } from "../host/types.js";
import { renderBundle } from "../render/index.js";
import { CLOUD_INIT_DONE, INSTALLED_MOAT_JS, RUNTIME_NODE, SPEC_ON_VM } from "../render/paths.js";
import { GATEWAY_UNIT } from "../render/systemd.js";
import { parseSpec, SpecInvalid } from "../spec/load.js";
import type { MoatSpec } from "../spec/schema.js";
import type { VmStatus } from "../status/vm-status.js";
import type { VerifyReport } from "../verify/types.js";
import { type CapacityPolicy, capacitySchedule, isOutOfCapacity } from "./capacity.js";
import { tofuVariables } from "./cloud-vars.js";
import { KnownHosts } from "./known-hosts.js";
import { type MoatTarball, moatTarball } from "./package.js";
import {
  accessHint,
  cloudSshProblem,
  DeployRefused,
  type DeployStep,
  deploySteps,
  isCloud,
  loginProblem,
  loginUser,
  type SshEndpoint,
  sshCandidates,
} from "./plan.js";
import { DeployProblem } from "./problem.js";
import { pushImage, pushPackage, pushSecret, pushSpec } from "./push.js";
import {
  asRoot,
  type Privileged,
  pickNode,
  privileged,
  readFacts,
  STAGED_IMAGE,
  STAGED_PACKAGE,
  STAGED_SPEC,
} from "./remote.js";
import { readDeploySecrets, vmSpecText } from "./secrets.js";
import { publicKeyLine, shellQuote as q, type Remote, reachHost, type SshAuth, sshAuth } from "./ssh.js";
import {
  type DeployState,
  KNOWN_HOSTS_FILE,
  readState,
  STATE_FILE,
  type VerifySummary,
  writeState,
} from "./state.js";
import { findTofu, type Tofu, tofuApply, tofuDestroy, tofuInit, tofuOutputs } from "./tofu.js";

export class DeployFailed extends DeployProblem {
  override readonly name = "DeployFailed";
  override readonly code = "MOAT_DEPLOY_FAILED";
}

export interface Progress {
  step(step: DeployStep | "status" | "destroy", text: string): void;
  line(text: string): void;
}

export interface DeployOptions {
  config: string;
  dir?: string;
  sshUser?: string;
  identity?: string;
  importImage?: string;
  capacity: CapacityPolicy;
  sshTimeoutMs?: number;
  cloudInitTimeoutMs?: number;
  progress: Progress;
}

export interface DeployResult {
  endpoint: SshEndpoint;
  apply: ApplyReport;
  verify: VerifyReport;
  access: string;
  changedSteps: string[];
}

export function loadDeploySpec(config: string): { spec: MoatSpec; text: string } {
  const text = readFileSync(config, "utf8");
  const r = parseSpec(text);
  if (!r.ok) throw new SpecInvalid(config, r.errors);
  return { spec: r.spec, text };
}

// Deploy state, the rendered bundle and the pinned host keys live together, by default in
// .moat/<name> beside moat.yaml.
export const deployDir = (config: string, spec: MoatSpec, dir?: string) =>
  resolve(dir ?? join(dirname(config), ".moat", spec.name));

function ociConfig(env: NodeJS.ProcessEnv): { path: string; text: string } | undefined {
  const path = env.OCI_CLI_CONFIG_FILE || join(homedir(), ".oci", "config");
  return existsSync(path) ? { path, text: readFileSync(path, "utf8") } : undefined;
}

const tofuVars = (spec: MoatSpec, publicKey: string, adIndex: number) =>
  tofuVariables(spec, { publicKey, adIndex, env: process.env, ociConfig: ociConfig(process.env) });

function writeBundle(spec: MoatSpec, dir: string): number {
  const artifacts = renderBundle(spec);
  for (const a of artifacts) {
    const file = join(dir, a.path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, a.content, { mode: a.mode ?? 0o644 });
  }
  return artifacts.length;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// `tofu apply`, retried across OCI's availability domains while OCI is out of A1 capacity.
async function applyWithCapacityRetry(
  tofu: Tofu,
  spec: MoatSpec,
  publicKey: string,
  policy: CapacityPolicy,
  startAd: number,
  progress: Progress,
): Promise<number> {
  const schedule = spec.target.kind === "oci" ? capacitySchedule(policy, startAd) : [];
  if (!schedule.length) {
    const r = await tofuApply(tofu, tofuVars(spec, publicKey, 0));
    if (r.code !== 0)
      throw new DeployFailed(`${tofu.bin} apply failed (exit ${r.code}); its output is above`);
    return 0;
  }
  for (const a of schedule) {
    if (a.waitSeconds) {
      progress.line(`all ${policy.ads} availability domain(s) were full; waiting ${a.waitSeconds} s`);
      await sleep(a.waitSeconds * 1000);
    }
    progress.line(
      `apply, attempt ${a.attempt} of ${schedule.length}, availability domain index ${a.adIndex}`,
    );
    const r = await tofuApply(tofu, tofuVars(spec, publicKey, a.adIndex));
    if (r.code === 0) return a.adIndex;
    if (!isOutOfCapacity(r.output))
      throw new DeployFailed(`${tofu.bin} apply failed (exit ${r.code}); its output is above`);
    progress.line(`OCI is out of host capacity in availability domain index ${a.adIndex}`);
  }
  throw new DeployFailed(
    `OCI had no A1 capacity in ${schedule.length} attempt(s) across ${policy.ads} availability domain(s); ` +
      "deploy again later, allow more tries with --capacity-attempts and --capacity-wait, or ask for fewer OCPUs",
  );
}

function tofuIn(dir: string, progress: Progress): Tofu {
  const bin = findTofu();
  mkdirSync(join(dir, "terraform"), { recursive: true });
  return { bin, dir: join(dir, "terraform"), onLine: (l) => progress.line(l) };
}

async function cloudHost(tofu: Tofu): Promise<{ host: string; instanceId?: string }> {
  const out = await tofuOutputs(tofu);
  const host = out.public_ip;
  if (typeof host !== "string" || !host)
    throw new DeployFailed(`${tofu.bin} gave no public_ip output in ${tofu.dir}`);
  return { host, ...(typeof out.instance_id === "string" && { instanceId: out.instance_id }) };
}

async function waitForCloudInit(p: Privileged, timeoutMs: number, progress: Progress): Promise<void> {
  const started = Date.now();
  for (;;) {
    const facts = await readFacts(p);
    if (facts.cloudInitDone) return;
    const s = Math.round((Date.now() - started) / 1000);
    if (Date.now() - started > timeoutMs)
      throw new DeployFailed(
        `cloud-init did not finish within ${s} s (no ${CLOUD_INIT_DONE}); see /var/log/cloud-init-output.log on the host`,
      );
    progress.line(`waiting for cloud-init (${s} s)`);
    await sleep(5000);
  }
}

async function remoteJson<T>(p: Privileged, argv: string[], what: string, progress?: Progress): Promise<T> {
  const r = await p.remote.run(`${p.sudo}${argv.map(q).join(" ")}`, {
    ...(progress && { onStderrLine: (l: string) => progress.line(l) }),
  });
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new DeployFailed(
      `${what} printed no report (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-2000)}`,
    );
  }
}

export const remoteVerify = (p: Privileged) =>
  remoteJson<VerifyReport>(
    p,
    [RUNTIME_NODE, INSTALLED_MOAT_JS, "verify", "-c", SPEC_ON_VM, "--json"],
    "moat verify",
  );

async function tailnetName(p: Privileged, spec: MoatSpec): Promise<string | undefined> {
  if (!spec.access.tailscale?.serve) return undefined;
  const r = await p.remote.run(asRoot(p, "tailscale status --json 2>/dev/null"));
  try {
    return (JSON.parse(r.stdout) as { Self?: { DNSName?: string } }).Self?.DNSName || undefined;
  } catch {
    return undefined;
  }
}

async function connect(
  spec: MoatSpec,
  dir: string,
  host: string,
  user: string,
  auth: SshAuth,
  state: DeployState | null,
  timeoutMs: number,
  progress: Progress,
): Promise<Remote> {
  const candidates = sshCandidates(spec, { publicHost: host, user, appliedBefore: !!state?.appliedAt });
  return reachHost(candidates, auth, new KnownHosts(join(dir, KNOWN_HOSTS_FILE)), {
    timeoutMs,
    onWait: (m) => progress.line(m),
    authRefusedIsFinal: !isCloud(spec),
  });
}

// Building from a checkout runs tsc and `npm ci`; their failure is the operator's to fix, not a bug.
function packageOrExplain(): MoatTarball {
  try {
    return moatTarball();
  } catch (err) {
    const e = err as Error & { stderr?: Buffer | string };
    throw new DeployFailed(
      `preparing the Moat package to upload failed: ${e.message}${e.stderr ? `\n${e.stderr}` : ""}`,
    );
  }
}

export async function deploy(opts: DeployOptions): Promise<DeployResult> {
  const { progress } = opts;
  const { spec, text } = loadDeploySpec(opts.config);
  const steps = deploySteps(spec);
  const user = loginUser(spec, opts.sshUser);
  const locked = loginProblem(spec, user) ?? cloudSshProblem(spec);
  if (locked) throw new DeployRefused(locked);
  // Read before anything is created, so a missing secret costs nothing.
  const secrets = readDeploySecrets(spec);
  const auth = sshAuth(opts.identity ?? (spec.target.kind === "ssh" ? spec.target.identityFile : undefined));
  // The cloud's variables are checked now too, before anything is rendered or created.
  const publicKey = steps.includes("terraform") ? publicKeyLine(auth) : "";
  if (publicKey) tofuVars(spec, publicKey, 0);
  const dir = deployDir(opts.config, spec, opts.dir);
  const previous = readState(dir);
  const now = new Date().toISOString();
  const state: DeployState = {
    ...(previous ?? { firstDeployedAt: now }),
    name: spec.name,
    target: spec.target.kind,
    lastDeployedAt: now,
  };

  progress.step("render", `render the bundle into ${dir}`);
  progress.line(`${writeBundle(spec, dir)} artifacts`);

  let host: string;
  if (steps.includes("terraform")) {
    const tofu = tofuIn(dir, progress);
    progress.step("terraform", `${tofu.bin} init and apply in ${tofu.dir}`);
    const init = await tofuInit(tofu);
    if (init.code !== 0)
      throw new DeployFailed(`${tofu.bin} init failed (exit ${init.code}); its output is above`);
    const adIndex = await applyWithCapacityRetry(
      tofu,
      spec,
      publicKey,
      opts.capacity,
      previous?.adIndex ?? 0,
      progress,
    );
    const out = await cloudHost(tofu);
    host = out.host;
    Object.assign(state, {
      host,
      instanceId: out.instanceId,
      sshPublicKey: publicKey,
      ...(spec.target.kind === "oci" && { adIndex }),
    });
    writeState(dir, state);
  } else {
    if (spec.target.kind !== "ssh")
      throw new DeployRefused(`target.kind ${spec.target.kind} cannot be deployed`);
    host = spec.target.host;
  }

  progress.step("connect", `SSH to ${user}@${host}`);
  const cloud = isCloud(spec);
  const remote = await connect(
    spec,
    dir,
    host,
    user,
    auth,
    previous,
    opts.sshTimeoutMs ?? (cloud ? 600_000 : 60_000),
    progress,
  );
  try {
    const endpoint = remote.endpoint;
    Object.assign(state, { host: endpoint.host, port: endpoint.port, user: endpoint.user });
    progress.line(`connected to ${endpoint.user}@${endpoint.host}:${endpoint.port}`);
    const p = await privileged(remote);
    if (cloud) await waitForCloudInit(p, opts.cloudInitTimeoutMs ?? 900_000, progress);
    const facts = await readFacts(p);
    const node = pickNode(facts);

    progress.step("push", "push Moat, the spec and the secrets");
    const tar = packageOrExplain();
    progress.line(
      (await pushPackage(p, tar, facts)) ? "Moat package uploaded" : "Moat package already there",
    );
    if (opts.importImage)
      progress.line(
        (await pushImage(p, opts.importImage, facts)) ? "agent image uploaded" : "agent image already there",
      );
    await pushSpec(p, vmSpecText(text, secrets));
    const replaced: string[] = [];
    for (const s of secrets) {
      const outcome = await pushSecret(p, s, spec);
      if (outcome === "replaced" && s.forGateway) replaced.push(s.field);
      progress.line(`${s.field} → ${s.vmPath}: ${outcome}`);
    }

    progress.step("apply", "moat host apply on the host");
    const apply = await remoteJson<ApplyReport>(
      p,
      [
        node,
        `${STAGED_PACKAGE}/bin/moat.js`,
        "host",
        "apply",
        "-c",
        STAGED_SPEC,
        "--json",
        "--progress",
        ...(opts.importImage ? ["--import-image", STAGED_IMAGE] : []),
      ],
      "moat host apply",
      progress,
    );
    if (!apply.ok) {
      writeState(dir, state);
      const failed = apply.steps.find((s) => s.status === "failed");
      throw new DeployFailed(`host apply failed at ${failed?.step ?? "?"}: ${failed?.error ?? "see above"}`);
    }
    // The gateway reads its secrets when it starts; a rotated one needs a restart.
    if (replaced.length) {
      await p.remote.run(asRoot(p, `systemctl try-restart ${GATEWAY_UNIT}`));
      progress.line(`restarted the gateway for ${replaced.join(", ")}`);
    }
    state.appliedAt = new Date().toISOString();
    writeState(dir, state);

    progress.step("verify", "moat verify on the host");
    const verify = await remoteVerify(p);
    state.lastVerify = verifySummary(verify);
    writeState(dir, state);
    const access = accessHint(spec, endpoint, await tailnetName(p, spec));
    return {
      endpoint,
      apply,
      verify,
      access,
      changedSteps: apply.steps.filter((s) => s.status === "changed").map((s) => s.step),
    };
  } finally {
    remote.close();
  }
}

export const verifySummary = (v: VerifyReport): VerifySummary => ({
  ok: v.summary.ok,
  passed: v.summary.passed,
  failed: v.summary.failed,
  skipped: v.summary.skipped,
});

// `moat status --local` on the VM: the agent, the gateway, today's spend, the last verify.
export const remoteVmStatus = (p: Privileged) =>
  remoteJson<VmStatus>(p, [RUNTIME_NODE, INSTALLED_MOAT_JS, "status", "--local", "--json"], "moat status");

export interface StatusResult {
  state: DeployState;
  outputs?: Record<string, unknown>;
  reachable: boolean;
  reachError?: string;
  verify?: VerifyReport;
  vm?: VmStatus;
  vmError?: string;
}

export async function status(opts: {
  config: string;
  dir?: string;
  identity?: string;
  progress: Progress;
}): Promise<StatusResult> {
  const { spec } = loadDeploySpec(opts.config);
  const dir = deployDir(opts.config, spec, opts.dir);
  const state = readState(dir);
  if (!state) throw new DeployFailed(`not deployed from here: no ${join(dir, STATE_FILE)}`);
  const result: StatusResult = { state, reachable: false };
  if (isCloud(spec)) {
    opts.progress.step("status", "terraform outputs");
    result.outputs = await tofuOutputs(tofuIn(dir, opts.progress));
  }
  if (!state.host || !state.user) return result;
  opts.progress.step("status", `SSH to ${state.user}@${state.host}`);
  try {
    const auth = sshAuth(
      opts.identity ?? (spec.target.kind === "ssh" ? spec.target.identityFile : undefined),
    );
    const remote = await connect(spec, dir, state.host, state.user, auth, state, 20_000, opts.progress);
    try {
      result.reachable = true;
      opts.progress.step("status", "moat verify on the host");
      const p = await privileged(remote);
      result.verify = await remoteVerify(p);
      // After verify, so the VM's own "last verify" is the one just run.
      try {
        result.vm = await remoteVmStatus(p);
      } catch (err) {
        result.vmError = (err as Error).message;
      }
    } finally {
      remote.close();
    }
  } catch (err) {
    result.reachError = (err as Error).message;
  }
  return result;
}

// `moat logs` from the operator's machine: the VM's `moat logs --local …` over the pinned
// connection, its lines handed on as they arrive. With follow, Ctrl-C closes the remote
// command's stdin, which ends it (--until-stdin-closes), and then the connection.
export async function remoteLogs(opts: {
  config: string;
  dir?: string;
  identity?: string;
  args: string[];
  follow: boolean;
  onLine: (line: string) => void;
  onStderrLine: (line: string) => void;
}): Promise<void> {
  const { spec } = loadDeploySpec(opts.config);
  const dir = deployDir(opts.config, spec, opts.dir);
  const state = readState(dir);
  if (!state?.host || !state.user)
    throw new DeployFailed(`not deployed from here: no host in ${join(dir, STATE_FILE)}`);
  const auth = sshAuth(opts.identity ?? (spec.target.kind === "ssh" ? spec.target.identityFile : undefined));
  const quiet: Progress = { step: () => {}, line: () => {} };
  const remote = await connect(spec, dir, state.host, state.user, auth, state, 20_000, quiet);
  try {
    const p = await privileged(remote);
    let interrupted = () => {};
    const stop = new Promise<void>((r) => {
      interrupted = r;
    });
    if (opts.follow) process.once("SIGINT", interrupted);
    const r = await remote.run(
      `${p.sudo}${[RUNTIME_NODE, INSTALLED_MOAT_JS, ...opts.args].map(q).join(" ")}`,
      {
        onStdoutLine: opts.onLine,
        onStderrLine: opts.onStderrLine,
        ...(opts.follow && { stdinOpenUntil: stop }),
      },
    );
    process.off("SIGINT", interrupted);
    interrupted();
    if (r.code !== 0) throw new DeployFailed(`moat logs on ${state.host} exited ${r.code}`);
  } finally {
    remote.close();
  }
}

export async function destroy(opts: { config: string; dir?: string; progress: Progress }): Promise<void> {
  const { spec } = loadDeploySpec(opts.config);
  if (!isCloud(spec))
    throw new DeployRefused(
      `target.kind ${spec.target.kind}: destroy removes cloud resources deploy created, and this target has none`,
    );
  const dir = deployDir(opts.config, spec, opts.dir);
  const state = readState(dir);
  const tofu = tofuIn(dir, opts.progress);
  opts.progress.step("destroy", `${tofu.bin} destroy in ${tofu.dir}`);
  const init = await tofuInit(tofu);
  if (init.code !== 0) throw new DeployFailed(`${tofu.bin} init failed (exit ${init.code})`);
  const r = await tofuDestroy(tofu, tofuVars(spec, state?.sshPublicKey ?? "", state?.adIndex ?? 0));
  if (r.code !== 0)
    throw new DeployFailed(`${tofu.bin} destroy failed (exit ${r.code}); its output is above`);
  // The instance is gone: its address and host key may be handed to someone else.
  new KnownHosts(join(dir, KNOWN_HOSTS_FILE)).forget();
  rmSync(join(dir, STATE_FILE), { force: true });
}
