// Step 5: the gateway as its own user in a systemd sandbox, on the dummy interface address.
// Secrets: `{ env: NAME }` values go to a root-only EnvironmentFile that systemd reads before
// dropping privileges; `{ file: PATH }` files must sit in /etc/moat-secrets, which is the only
// secret place the sandbox lets the gateway read, and are made readable by its group only.

import { dirname } from "node:path";
import { pullListenAddress } from "../../gateway/pull-listener.js";
import { restartNeeded } from "../../gateway/reload.js";
import { GATEWAY_ENV_FILE, LOG_DIR, SECRETS_DIR, SPEC_ON_VM, STATE_DIR } from "../../render/paths.js";
import { GATEWAY_NET_UNIT, GATEWAY_UNIT } from "../../render/systemd.js";
import { parseSpec } from "../../spec/load.js";
import type { SecretRef } from "../../spec/schema.js";
import { type SecretField, secretFields } from "../../spec/secrets.js";
import { HOST_STATE_DIR, planFiles, unitFile, writesAny } from "../files.js";
import { observeFile, observeFiles, output, readText, unitState } from "../shell.js";
import { type Step, waitFor } from "../step.js";
import type { Action, FileSeen, FileWant, PlanContext } from "../types.js";

const UNITS = [GATEWAY_NET_UNIT, GATEWAY_UNIT];

export interface GatewaySeen {
  files: ReadonlyMap<string, FileSeen>;
  dirs: ReadonlyMap<string, FileSeen>;
  secretFiles: FileSeen[];
  // Values of `{ env }` secrets in host apply's environment, by variable name.
  envValues: Record<string, string | undefined>;
  units: Record<string, { enabled: string; active: string }>;
}

// Directories: [path, mode, owner, group].
export function gatewayDirs(ctx: PlanContext): [string, number, string, string][] {
  const gw = ctx.spec.host.gatewayUser;
  return [
    [dirname(SPEC_ON_VM), 0o755, "root", "root"],
    [SECRETS_DIR, 0o750, "root", gw],
    [STATE_DIR, 0o750, gw, gw],
    [LOG_DIR, 0o750, gw, gw],
    [HOST_STATE_DIR, 0o700, "root", "root"],
  ];
}

// The gateway's secrets: every secret but Tailscale's auth key, which only the access step reads
// (into its own root-only file), so the gateway user can never read it.
const gatewaySecretFields = (ctx: PlanContext) =>
  secretFields(ctx.spec).filter((f) => f.reader === "gateway");
const envRefs = (ctx: PlanContext) =>
  gatewaySecretFields(ctx).filter(
    (f): f is SecretField & { ref: Extract<SecretRef, { env: string }> } => "env" in f.ref,
  );
const fileRefs = (ctx: PlanContext) =>
  gatewaySecretFields(ctx).filter(
    (f): f is SecretField & { ref: Extract<SecretRef, { file: string }> } => "file" in f.ref,
  );

export function gatewayFiles(ctx: PlanContext, seen: Pick<GatewaySeen, "envValues">): FileWant[] {
  const spec: FileWant = {
    path: SPEC_ON_VM,
    content: ctx.specText,
    mode: 0o644,
    owner: "root",
    group: "root",
  };
  const files = [spec, ...UNITS.map((u) => unitFile(ctx.artifacts, u))];
  const env = envRefs(ctx).filter((f) => seen.envValues[f.ref.env] !== undefined);
  if (env.length) {
    const lines = env.map((f) => `${f.ref.env}=${seen.envValues[f.ref.env]}`);
    files.push({
      path: GATEWAY_ENV_FILE,
      content: `${lines.join("\n")}\n`,
      mode: 0o600,
      owner: "root",
      group: "root",
      secret: true,
    });
  }
  return files;
}

export function planGateway(ctx: PlanContext, seen: GatewaySeen): Action[] {
  const actions: Action[] = [];
  for (const [path, mode, owner, group] of gatewayDirs(ctx)) {
    const d = seen.dirs.get(path);
    if (!d || d.mode !== mode || d.owner !== owner || d.group !== group)
      actions.push({
        kind: "mkdir",
        path,
        mode,
        owner,
        group,
        why: `${d?.owner ? "fix" : "create"} ${path} (${owner}:${group})`,
      });
  }
  const gw = ctx.spec.host.gatewayUser;
  for (const f of envRefs(ctx)) {
    // A value already installed is kept: apply may run later without the variable set.
    if (
      seen.envValues[f.ref.env] === undefined &&
      !seen.files.get(GATEWAY_ENV_FILE)?.content?.includes(`${f.ref.env}=`)
    )
      actions.push({
        kind: "fail",
        message: `${f.field}: set ${f.ref.env} in host apply's environment (it is written to ${GATEWAY_ENV_FILE}, root only)`,
      });
  }
  for (const f of fileRefs(ctx)) {
    const s = seen.secretFiles.find((x) => x.path === f.ref.file);
    if (!f.ref.file.startsWith(`${SECRETS_DIR}/`)) {
      actions.push({
        kind: "fail",
        message: `${f.field}: ${f.ref.file} is outside ${SECRETS_DIR}, where the gateway's sandbox can read secrets`,
      });
    } else if (!s || s.content === null) {
      actions.push({ kind: "fail", message: `${f.field}: ${f.ref.file} does not exist` });
    } else if (s.mode !== 0o640 || s.owner !== "root" || s.group !== gw) {
      actions.push({
        kind: "write",
        file: { path: s.path, content: s.content, mode: 0o640, owner: "root", group: gw, secret: true },
        why: `make ${s.path} readable by ${gw} only`,
      });
    }
  }
  if (actions.some((a) => a.kind === "fail")) return actions;
  const files = gatewayFiles(ctx, seen);
  const fileActions = planFiles(files, seen.files);
  actions.push(...fileActions);
  const unitPaths = files.filter((f) => f.path.endsWith(".service")).map((f) => f.path);
  const unitsChanged = writesAny(fileActions, unitPaths);
  const configChanged =
    writesAny(fileActions, [SPEC_ON_VM, GATEWAY_ENV_FILE]) ||
    actions.some((a) => a.kind === "write" && a.file.secret);
  if (unitsChanged)
    actions.push({ kind: "run", argv: ["systemctl", "daemon-reload"], why: "reload unit files" });
  for (const unit of UNITS) {
    if (seen.units[unit]?.enabled !== "enabled")
      actions.push({ kind: "run", argv: ["systemctl", "enable", unit], why: `start ${unit} at boot` });
  }
  const gatewayActive = seen.units[GATEWAY_UNIT]?.active === "active";
  if (seen.units[GATEWAY_NET_UNIT]?.active !== "active")
    actions.push({
      kind: "run",
      argv: ["systemctl", "start", GATEWAY_NET_UNIT],
      why: "put the gateway address up",
    });
  const moved = configChanged ? listenersMove(ctx, seen) : undefined;
  if (!gatewayActive)
    actions.push({ kind: "run", argv: ["systemctl", "start", GATEWAY_UNIT], why: "start the gateway" });
  else if (unitsChanged || writesAny(fileActions, [GATEWAY_ENV_FILE]))
    actions.push({
      kind: "run",
      argv: ["systemctl", "restart", GATEWAY_UNIT],
      why: "restart the gateway with its new unit or secrets",
    });
  else if (moved)
    actions.push({
      kind: "run",
      argv: ["systemctl", "restart", GATEWAY_UNIT],
      why: `restart the gateway: ${moved}`,
    });
  else if (configChanged)
    actions.push({
      kind: "run",
      argv: ["systemctl", "reload", GATEWAY_UNIT],
      why: "the gateway re-reads moat.yaml (SIGHUP)",
    });
  return actions;
}

// A reload refuses a spec that moves the gateway's listeners (gateway/reload.ts), so such a change
// is a restart; the spec the gateway runs is the one on the VM.
function listenersMove(ctx: PlanContext, seen: GatewaySeen): string | undefined {
  const running = seen.files.get(SPEC_ON_VM)?.content;
  const parsed = running ? parseSpec(running) : undefined;
  return parsed?.ok ? restartNeeded(parsed.spec, ctx.spec) : undefined;
}

// The gateway runs as its own uid and listens on its address (metrics and host apply's pulls on
// loopback) only.
export function gatewayProblems(ctx: PlanContext, mainUid: number | null, listeners: string): string[] {
  const { address, port, metricsPort } = ctx.spec.gateway;
  const problems: string[] = [];
  if (mainUid === null) problems.push(`${GATEWAY_UNIT} is not running`);
  else if (mainUid !== ctx.spec.host.gatewayUid)
    problems.push(`the gateway runs as uid ${mainUid}, not ${ctx.spec.host.gatewayUid}`);
  const mine = mainUid === null ? [] : listeners.split("\n").filter((l) => l.includes(` uid:${mainUid} `));
  if (!listeners.includes(`${address}:${port}`)) problems.push(`nothing listens on ${address}:${port}`);
  for (const l of mine) {
    const local = l.split(/\s+/)[3] ?? "";
    const pull = pullListenAddress(ctx.spec);
    if (
      local &&
      ![`${address}:${port}`, `127.0.0.1:${metricsPort}`, `${pull.host}:${pull.port}`].includes(local)
    )
      problems.push(`the gateway also listens on ${local}`);
  }
  return problems;
}

function gatewayMainUid(): number | null {
  const pid = Number(output(["systemctl", "show", "-p", "MainPID", "--value", GATEWAY_UNIT])?.trim());
  if (!pid) return null;
  const status = readText(`/proc/${pid}/status`) ?? "";
  const uid = status.match(/^Uid:\s+(\d+)/m)?.[1];
  return uid === undefined ? null : Number(uid);
}

export const gatewayStep: Step<GatewaySeen> = {
  name: "gateway",
  title: "the gateway service",
  observe: (ctx) => {
    const envValues = Object.fromEntries(
      envRefs(ctx).map((f) => [f.ref.env, process.env[f.ref.env] || undefined]),
    );
    return {
      files: observeFiles(
        gatewayFiles(ctx, { envValues })
          .map((f) => f.path)
          .concat(GATEWAY_ENV_FILE),
      ),
      dirs: observeFiles(gatewayDirs(ctx).map(([p]) => p)),
      secretFiles: fileRefs(ctx).map((f) => observeFile(f.ref.file)),
      envValues,
      units: Object.fromEntries(UNITS.map((u) => [u, unitState(u)])),
    };
  },
  plan: planGateway,
  verify: async (ctx, say) => {
    const problems = await waitFor(
      () => gatewayProblems(ctx, gatewayMainUid(), output(["ss", "-Hltnpe"]) ?? ""),
      15_000,
      say,
    );
    // The gateway's own last words say why, so the report does not send people to the journal.
    const journal = output(["journalctl", "-u", GATEWAY_UNIT, "-n", "3", "--no-pager", "-o", "cat"])?.trim();
    return problems.length && journal
      ? [...problems, `journal: ${journal.replaceAll("\n", " | ")}`]
      : problems;
  },
};
