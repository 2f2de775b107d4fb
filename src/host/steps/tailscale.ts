// Tailscale, part of the access step: Tailscale's signed apt repository (its key checked against
// the pinned fingerprint, never `curl | sh`), the package, `tailscale up` with the auth key read
// from a root-only file (never on a command line), `tailscale serve` to the agent's loopback
// port, and then (only once tailscale reports Running) the table that closes public SSH.
// Planning is pure; observation reads dpkg, files and `tailscale … --json`.
import { readFileSync } from "node:fs";
import { onVm, TAILSCALE_AUTHKEY_FILE } from "../../render/paths.js";
import {
  SSH_LOCKDOWN_PATH,
  SSH_LOCKDOWN_TABLE,
  SSH_LOCKDOWN_UNIT,
  SSH_LOCKDOWN_UNIT_PATH,
} from "../../render/ssh-lockdown.js";
import type { MoatSpec } from "../../spec/schema.js";
import { readSecret, TAILSCALE_AUTH_KEY_FIELD } from "../../spec/secrets.js";
import type { Distro } from "../distro.js";
import { HOST_STATE_DIR, planFiles, SYSTEMD_DIR, writesAny } from "../files.js";
import { keyringProblems } from "../openpgp.js";
import { observeFile, output, readText, unitState } from "../shell.js";
import type { Action, FileSeen, FileWant, PlanContext } from "../types.js";

// Tailscale's package signing key, as its installer and docs name it (cloud-facts §5).
export const TAILSCALE_KEY_FINGERPRINT = "2596A99EAAB33821893C0A79458CA832957F5868";
export const TAILSCALE_KEYRING = "/usr/share/keyrings/tailscale-archive-keyring.gpg";
export const TAILSCALE_SOURCE = "/etc/apt/sources.list.d/tailscale.list";
const TAILSCALE_UP_RECORD = "tailscale.up";
const TAILSCALED_UNIT = "tailscaled.service";
const LOCKDOWN_FILE = onVm(SSH_LOCKDOWN_PATH);
const LOCKDOWN_UNIT_FILE = `${SYSTEMD_DIR}/${SSH_LOCKDOWN_UNIT}`;
const LIST_LOCKDOWN = ["nft", "list", "table", "inet", SSH_LOCKDOWN_TABLE];
const RUNNING = '"BackendState":\\s*"Running"';

const tailscaleRepo = (d: Distro) => `https://pkgs.tailscale.com/stable/${d.id}`;
const tailscaleKeyUrl = (d: Distro) => `${tailscaleRepo(d)}/${d.codename}.noarmor.gpg`;
const tailscaleSourceLine = (d: Distro) =>
  `deb [signed-by=${TAILSCALE_KEYRING}] ${tailscaleRepo(d)} ${d.codename} main\n`;

// What `tailscale status --json` and `tailscale serve status --json` say, as far as Moat reads them.
export interface TailscaleStatus {
  BackendState?: string;
}
export interface ServeConfig {
  TCP?: Record<string, { HTTPS?: boolean }>;
  Web?: Record<string, { Handlers?: Record<string, { Proxy?: string }> }>;
}

export interface TailscaleSeen {
  // dpkg reports the tailscale package installed.
  installed: boolean;
  keyring: Buffer | null;
  source: FileSeen;
  keyFile: FileSeen;
  // The auth key from the spec's secret reference; null when it is not available now.
  authKey: string | null;
  authKeyError: string | null;
  daemon: { enabled: string; active: string };
  status: TailscaleStatus | null;
  serve: ServeConfig | null;
  recordedUp: string | null;
  lockdownFiles: ReadonlyMap<string, FileSeen>;
  lockdownUnit: { enabled: string; active: string };
  lockdownLive: boolean;
}

// Flags are not persisted between `tailscale up` runs, so every run names them all; --reset
// returns any flag not named to its default. The key is read by tailscale from the file.
export function tailscaleUpArgv(spec: MoatSpec): string[] {
  const ts = spec.access.tailscale;
  if (!ts) return [];
  return [
    "tailscale",
    "up",
    `--auth-key=file:${TAILSCALE_AUTHKEY_FILE}`,
    `--hostname=${ts.hostname ?? spec.name}`,
    `--advertise-tags=${ts.tags.join(",")}`,
    ...(ts.ssh ? ["--ssh"] : []),
    "--reset",
    "--timeout=120s",
  ];
}

const serveTarget = (spec: MoatSpec) => `http://127.0.0.1:${spec.agent.port}`;
const tailscaleServeArgv = (spec: MoatSpec) => [
  "tailscale",
  "serve",
  "--bg",
  "--yes",
  "--https=443",
  serveTarget(spec),
];

// Does the serve config send HTTPS on 443 at / to the agent's loopback port?
function servesAgent(spec: MoatSpec, serve: ServeConfig | null): boolean {
  if (!serve?.TCP?.["443"]?.HTTPS) return false;
  return Object.entries(serve.Web ?? {}).some(
    ([hostPort, web]) => hostPort.endsWith(":443") && web.Handlers?.["/"]?.Proxy === serveTarget(spec),
  );
}
const servesAnything = (serve: ServeConfig | null) =>
  Object.keys(serve?.TCP ?? {}).length > 0 || Object.keys(serve?.Web ?? {}).length > 0;

function lockdownFiles(ctx: PlanContext): FileWant[] {
  const nft = ctx.artifacts.get(SSH_LOCKDOWN_PATH);
  const unit = ctx.artifacts.get(SSH_LOCKDOWN_UNIT_PATH);
  if (!nft || !unit) return [];
  const file = (path: string, content: string): FileWant => ({
    path,
    content,
    mode: 0o644,
    owner: "root",
    group: "root",
  });
  return [file(LOCKDOWN_FILE, nft.content), file(LOCKDOWN_UNIT_FILE, unit.content)];
}

export function planTailscale(ctx: PlanContext, seen: TailscaleSeen): Action[] {
  const ts = ctx.spec.access.tailscale;
  if (!ts) return planLockdownRemoval(seen);
  const actions: Action[] = [];
  // A keyring at Tailscale's path that is not Tailscale's key is refused, whoever put it there:
  // apt would trust it for the tailscale package.
  if (seen.keyring) {
    const problems = keyringProblems(seen.keyring, TAILSCALE_KEY_FINGERPRINT, TAILSCALE_KEYRING);
    if (problems.length) return [{ kind: "fail", message: `${problems.join("; ")}; remove it and re-run` }];
  }
  // Moat manages the repository when it installs Tailscale (or has before); a Tailscale that
  // came with the image or from cloud-init's apt block keeps its own source.
  if (!seen.installed || seen.source.content !== null) {
    if (!seen.keyring)
      actions.push({
        kind: "fetch-key",
        url: tailscaleKeyUrl(ctx.distro),
        file: { path: TAILSCALE_KEYRING, mode: 0o644, owner: "root", group: "root" },
        fingerprint: TAILSCALE_KEY_FINGERPRINT,
        why: "add Tailscale's signing key, checked against its pinned fingerprint",
      });
    const source: FileWant = {
      path: TAILSCALE_SOURCE,
      content: tailscaleSourceLine(ctx.distro),
      mode: 0o644,
      owner: "root",
      group: "root",
    };
    actions.push(...planFiles([source], new Map([[TAILSCALE_SOURCE, seen.source]])));
  }
  if (!seen.installed) {
    actions.push({ kind: "run", argv: ["apt-get", "update", "-qq"], why: "read Tailscale's package list" });
    actions.push({
      kind: "run",
      argv: ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "tailscale"],
      why: "install tailscale",
    });
  }
  if (seen.daemon.enabled !== "enabled")
    actions.push({
      kind: "run",
      argv: ["systemctl", "enable", TAILSCALED_UNIT],
      why: "start tailscaled at boot",
    });
  if (seen.daemon.active !== "active")
    actions.push({ kind: "run", argv: ["systemctl", "start", TAILSCALED_UNIT], why: "start tailscaled" });

  const up = tailscaleUpArgv(ctx.spec);
  const running = seen.status?.BackendState === "Running";
  const upNeeded = !running || seen.recordedUp !== up.join(" ");
  if (seen.authKey !== null) {
    const keyFile: FileWant = {
      path: TAILSCALE_AUTHKEY_FILE,
      content: `${seen.authKey}\n`,
      mode: 0o600,
      owner: "root",
      group: "root",
      secret: true,
    };
    actions.push(...planFiles([keyFile], new Map([[TAILSCALE_AUTHKEY_FILE, seen.keyFile]])));
  } else if (upNeeded && seen.keyFile.content === null) {
    actions.push({
      kind: "fail",
      message: `${TAILSCALE_AUTH_KEY_FIELD}: ${seen.authKeyError ?? "not available"} (it is written to ${TAILSCALE_AUTHKEY_FILE}, root only)`,
    });
    return actions;
  } else if (seen.keyFile.content !== null && (seen.keyFile.mode !== 0o600 || seen.keyFile.owner !== "root"))
    actions.push({
      kind: "chmod",
      path: TAILSCALE_AUTHKEY_FILE,
      mode: 0o600,
      why: "make the auth key root only",
    });
  if (upNeeded) {
    actions.push({ kind: "run", argv: up, why: "join the tailnet (key read from its file)" });
    actions.push({
      kind: "record",
      name: TAILSCALE_UP_RECORD,
      content: up.join(" "),
      why: "record the tailscale flags",
    });
  }
  if (ts.serve && !servesAgent(ctx.spec, seen.serve))
    actions.push({
      kind: "run",
      argv: tailscaleServeArgv(ctx.spec),
      why: `serve the agent's port ${ctx.spec.agent.port} to the tailnet`,
    });
  else if (!ts.serve && servesAnything(seen.serve))
    actions.push({ kind: "run", argv: ["tailscale", "serve", "reset"], why: "stop serving to the tailnet" });

  // Public SSH closes only after tailscale says it is Running, in this run: a failed `up` or an
  // unapproved node stops the step before the table loads.
  const files = lockdownFiles(ctx);
  const writes = planFiles(files, seen.lockdownFiles);
  const unitChanged = writesAny(writes, [LOCKDOWN_UNIT_FILE]);
  const rulesChanged = writesAny(writes, [LOCKDOWN_FILE]);
  const lockdown: Action[] = [...writes];
  if (unitChanged)
    lockdown.push({ kind: "run", argv: ["systemctl", "daemon-reload"], why: "reload unit files" });
  if (seen.lockdownUnit.enabled !== "enabled")
    lockdown.push({
      kind: "run",
      argv: ["systemctl", "enable", SSH_LOCKDOWN_UNIT],
      why: "close public SSH at every boot",
    });
  if (seen.lockdownUnit.active !== "active")
    lockdown.push({ kind: "run", argv: ["systemctl", "start", SSH_LOCKDOWN_UNIT], why: "close public SSH" });
  else if (rulesChanged || unitChanged || !seen.lockdownLive)
    lockdown.push({
      kind: "run",
      argv: ["systemctl", "reload", SSH_LOCKDOWN_UNIT],
      why: "reload the SSH lockdown table",
    });
  if (lockdown.length) {
    actions.push({
      kind: "await",
      argv: ["tailscale", "status", "--json"],
      match: RUNNING,
      timeoutMs: 60_000,
      why: "wait for tailscale to report Running before closing public SSH",
    });
    actions.push(...lockdown);
  }
  return actions;
}

// Tailscale taken out of the spec: public SSH is the way in again, so the lockdown goes.
function planLockdownRemoval(seen: TailscaleSeen): Action[] {
  const present = [...seen.lockdownFiles.values()].some((f) => f.content !== null);
  if (!present && !seen.lockdownLive) return [];
  return [
    {
      kind: "run",
      argv: ["systemctl", "disable", "--now", SSH_LOCKDOWN_UNIT],
      why: "reopen public SSH (access.tailscale removed)",
    },
    { kind: "run", argv: ["rm", "-f", LOCKDOWN_FILE, LOCKDOWN_UNIT_FILE], why: "remove the SSH lockdown" },
    { kind: "run", argv: ["systemctl", "daemon-reload"], why: "reload unit files" },
  ];
}

const parseJson = <T>(text: string | null): T | null => {
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
};

export function observeTailscale(ctx: PlanContext): TailscaleSeen {
  const ts = ctx.spec.access.tailscale;
  let authKey: string | null = null;
  let authKeyError: string | null = null;
  if (ts) {
    try {
      authKey = readSecret(TAILSCALE_AUTH_KEY_FIELD, ts.authKey);
    } catch (err) {
      authKeyError = (err as Error).message;
    }
  }
  let keyring: Buffer | null = null;
  try {
    keyring = readFileSync(TAILSCALE_KEYRING);
  } catch {}
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query --showformat
  const dpkg = output(["dpkg-query", "-W", "-f", "${db:Status-Status}", "tailscale"]);
  const installed = dpkg?.trim() === "installed";
  const lockdownPaths = [LOCKDOWN_FILE, LOCKDOWN_UNIT_FILE];
  return {
    installed,
    keyring,
    source: observeFile(TAILSCALE_SOURCE),
    keyFile: observeFile(TAILSCALE_AUTHKEY_FILE),
    authKey,
    authKeyError,
    daemon: unitState(TAILSCALED_UNIT),
    status: installed ? parseJson<TailscaleStatus>(output(["tailscale", "status", "--json"])) : null,
    serve: installed ? parseJson<ServeConfig>(output(["tailscale", "serve", "status", "--json"])) : null,
    recordedUp: readText(`${HOST_STATE_DIR}/${TAILSCALE_UP_RECORD}`),
    lockdownFiles: new Map(lockdownPaths.map((p) => [p, observeFile(p)])),
    lockdownUnit: unitState(SSH_LOCKDOWN_UNIT),
    lockdownLive: output(LIST_LOCKDOWN) !== null,
  };
}

// The live state once the step ran: the pinned key, tailscale Running, the key file root only,
// serve as asked, and the lockdown table loaded.
export function tailscaleProblems(
  spec: MoatSpec,
  live: {
    keyring: Buffer | null;
    status: TailscaleStatus | null;
    serve: ServeConfig | null;
    keyFile: FileSeen;
    lockdown: string | null;
  },
): string[] {
  const ts = spec.access.tailscale;
  if (!ts)
    return live.lockdown === null ? [] : [`table inet ${SSH_LOCKDOWN_TABLE} is loaded without Tailscale`];
  const problems: string[] = [];
  if (live.keyring)
    problems.push(...keyringProblems(live.keyring, TAILSCALE_KEY_FINGERPRINT, TAILSCALE_KEYRING));
  if (live.status?.BackendState !== "Running")
    problems.push(`tailscale is ${live.status?.BackendState ?? "not answering"}, not Running`);
  if (live.keyFile.content !== null && (live.keyFile.mode !== 0o600 || live.keyFile.owner !== "root"))
    problems.push(`${TAILSCALE_AUTHKEY_FILE} is not root only`);
  if (ts.serve && !servesAgent(spec, live.serve))
    problems.push(`tailscale does not serve ${serveTarget(spec)}`);
  if (live.lockdown === null)
    problems.push(`table inet ${SSH_LOCKDOWN_TABLE} is not loaded: public SSH is open`);
  else if (!/iifname \{ "lo", "tailscale0" \} accept/.test(live.lockdown) || !/drop/.test(live.lockdown))
    problems.push(`table inet ${SSH_LOCKDOWN_TABLE} lacks its tailscale0 accept or its drop`);
  return problems;
}

export function liveTailscale(): Parameters<typeof tailscaleProblems>[1] {
  let keyring: Buffer | null = null;
  try {
    keyring = readFileSync(TAILSCALE_KEYRING);
  } catch {}
  return {
    keyring,
    status: parseJson<TailscaleStatus>(output(["tailscale", "status", "--json"])),
    serve: parseJson<ServeConfig>(output(["tailscale", "serve", "status", "--json"])),
    keyFile: observeFile(TAILSCALE_AUTHKEY_FILE),
    lockdown: output(LIST_LOCKDOWN),
  };
}
