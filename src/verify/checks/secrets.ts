// No real secret in what the agent holds: its environment (Docker's view and its own), its
// config files, and its logs. Env values are compared by SHA-256 with the values the gateway
// holds; text is searched for them. Only field names are ever printed.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { agentContainerName } from "../../render/compose.js";
import { BUNDLE_DIR } from "../../render/paths.js";
import { agentDockerArgv } from "../observe.js";
import { sh } from "../shell.js";
import { type Check, fail, pass, skip } from "../types.js";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

// Every file of the bundle the agent is configured from (compose file, OpenClaw config, …).
function bundleTexts(dir = BUNDLE_DIR): [string, string][] {
  const out: [string, string][] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.size < 4 << 20) out.push([p, readFileSync(p, "utf8")]);
    }
  };
  try {
    walk(dir);
  } catch {}
  return out;
}

export function findLeaks(
  secrets: { field: string; value: string }[],
  envValues: { where: string; value: string }[],
  texts: [string, string][],
): string[] {
  const leaks: string[] = [];
  const hashes = new Map(secrets.map((s) => [sha256(s.value), s.field]));
  for (const e of envValues) {
    const field = hashes.get(sha256(e.value));
    if (field) leaks.push(`${field} in ${e.where}`);
  }
  for (const [where, text] of texts)
    for (const s of secrets) if (text.includes(s.value)) leaks.push(`${s.field} in ${where}`);
  return [...new Set(leaks)];
}

const envOf = (lines: string[], where: string) =>
  lines.map((l) => ({ where, value: l.slice(l.indexOf("=") + 1) })).filter((e) => e.value);

export const noRealSecrets: Check = {
  id: "secrets.agent",
  title: "no real secret in the agent's environment, config or logs",
  required: true,
  run: async (ctx) => {
    const held = await ctx.observe.secrets();
    if (!held.length) return skip("the spec references no secrets");
    const secrets = held.filter((s): s is { field: string; value: string } => !!s.value);
    const unreadable = held.filter((s) => !s.value).map((s) => s.problem);
    if (!secrets.length)
      return fail(
        `cannot read what the gateway holds: ${unreadable.join("; ")}`,
        "run as root on the VM after `moat host apply`",
      );
    const c = await ctx.observe.container();
    const logsCmd = agentDockerArgv(ctx.spec, ["logs", "--tail", "20000", agentContainerName(ctx.spec)]);
    const [environ, logs] = await Promise.all([
      ctx.observe.inContainer("tr '\\0' '\\n' < /proc/1/environ"),
      sh(logsCmd.argv, { env: logsCmd.env }),
    ]);
    const leaks = findLeaks(
      secrets,
      [
        ...envOf(c?.Config?.Env ?? [], "the container's Env"),
        ...envOf(environ.stdout.split("\n"), "the agent's process environment"),
      ],
      [...bundleTexts(), ["the container's logs", logs.stdout + logs.stderr]],
    );
    if (leaks.length)
      return fail(
        `real secret found: ${leaks.join(", ")}`,
        "remove it from agent.env / the compose file, rotate the secret, and `moat host apply --only agent`",
      );
    return pass(
      `${secrets.length} secret(s) absent from env, ${BUNDLE_DIR} and logs${unreadable.length ? `; unreadable: ${unreadable.join("; ")}` : ""}`,
    );
  },
};
