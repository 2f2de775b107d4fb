// Observations several checks share, each taken once per run (memoised promises).

import { readFileSync } from "node:fs";
import { agentContainerName } from "../render/compose.js";
import { agentCommand, GATEWAY_ENV_FILE } from "../render/paths.js";
import type { MoatSpec } from "../spec/schema.js";
import { readSecret, secretFields } from "../spec/secrets.js";
import { sh } from "./shell.js";
import type { ContainerInspect, Listener, Observations } from "./types.js";

const once = <T>(f: () => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => {
    p ??= f();
    return p;
  };
};

// `ss -Hltunpe` lines: netid state recv send local peer [users:((…))] [uid:N] …
export function parseListeners(ss: string): Listener[] {
  return ss
    .split("\n")
    .filter((l) => l.trim())
    .map((line) => {
      const cols = line.trim().split(/\s+/);
      const local = cols[4] ?? "";
      const i = local.lastIndexOf(":");
      return {
        proto: cols[0] === "udp" ? ("udp" as const) : ("tcp" as const),
        address: local.slice(0, i).replace(/^\[|\]$/g, ""),
        port: Number(local.slice(i + 1)),
        process: line.match(/users:\(\("([^"]+)"/)?.[1] ?? "",
        uid: Number(line.match(/ uid:(\d+)/)?.[1] ?? Number.NaN),
      };
    })
    .map((l) => ({ ...l, uid: Number.isNaN(l.uid) ? null : l.uid }));
}

// KEY=value lines of an EnvironmentFile.
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/);
    if (m?.[1]) out[m[1]] = m[2] ?? "";
  }
  return out;
}

export function agentDockerArgv(spec: MoatSpec, args: string[]) {
  return agentCommand(spec, ["docker", ...args]);
}

export function liveObservations(spec: MoatSpec): Observations {
  const name = agentContainerName(spec);
  return {
    container: once(async () => {
      const cmd = agentDockerArgv(spec, ["inspect", name]);
      const r = await sh(cmd.argv, { env: cmd.env });
      if (r.code !== 0) return null;
      return (JSON.parse(r.stdout) as ContainerInspect[])[0] ?? null;
    }),
    inContainer: (script, timeoutMs = 8000) => {
      const cmd = agentDockerArgv(spec, ["exec", name, "sh", "-c", script]);
      return sh(cmd.argv, { env: cmd.env, timeoutMs });
    },
    listeners: once(async () => parseListeners((await sh(["ss", "-Hltunpe"])).stdout)),
    secrets: once(async () => {
      let gatewayEnv: Record<string, string> = {};
      try {
        gatewayEnv = parseEnvFile(readFileSync(GATEWAY_ENV_FILE, "utf8"));
      } catch {}
      return secretFields(spec).map(({ field, ref }) => {
        if ("env" in ref) {
          const value = gatewayEnv[ref.env] ?? process.env[ref.env] ?? null;
          return value
            ? { field, value }
            : {
                field,
                value: null,
                problem: `${ref.env} is in neither ${GATEWAY_ENV_FILE} nor the environment`,
              };
        }
        try {
          return { field, value: readSecret(field, ref) };
        } catch (err) {
          return { field, value: null, problem: (err as Error).message };
        }
      });
    }),
  };
}
