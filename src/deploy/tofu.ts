// OpenTofu or Terraform, whichever is installed, run in the bundle's terraform/ directory with
// no prompts and no colour, every output line passed on as progress.

import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { DeployProblem } from "./problem.js";

export class TofuMissing extends DeployProblem {
  override readonly name = "TofuMissing";
  override readonly code = "MOAT_DEPLOY_TOFU_MISSING";
}

export function findTofu(env: NodeJS.ProcessEnv = process.env): string {
  for (const name of ["tofu", "terraform"]) {
    for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {}
    }
  }
  throw new TofuMissing(
    "neither `tofu` nor `terraform` is on PATH: install OpenTofu (https://opentofu.org/docs/intro/install/) or Terraform, then run deploy again",
  );
}

export interface TofuResult {
  code: number;
  output: string;
}

export interface Tofu {
  bin: string;
  dir: string;
  onLine: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

const tofuVarArgs = (vars: Record<string, string | number>) =>
  Object.entries(vars).map(([k, v]) => `-var=${k}=${v}`);

function runTofu(t: Tofu, args: string[], quiet = false): Promise<TofuResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(t.bin, args, {
      cwd: t.dir,
      env: { ...(t.env ?? process.env), TF_IN_AUTOMATION: "1", TF_INPUT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let rest = "";
    const take = (d: Buffer) => {
      output += d.toString();
      rest += d.toString();
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      if (!quiet) for (const l of lines) if (l.trim()) t.onLine(l);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", reject);
    child.on("close", (code) => {
      if (!quiet && rest.trim()) t.onLine(rest);
      resolve({ code: code ?? -1, output });
    });
  });
}

export const tofuInit = (t: Tofu) => runTofu(t, ["init", "-input=false", "-no-color"]);
export const tofuApply = (t: Tofu, vars: Record<string, string | number>) =>
  runTofu(t, ["apply", "-auto-approve", "-input=false", "-no-color", ...tofuVarArgs(vars)]);
export const tofuDestroy = (t: Tofu, vars: Record<string, string | number>) =>
  runTofu(t, ["destroy", "-auto-approve", "-input=false", "-no-color", ...tofuVarArgs(vars)]);

export async function tofuOutputs(t: Tofu): Promise<Record<string, unknown>> {
  const r = await runTofu(t, ["output", "-json", "-no-color"], true);
  if (r.code !== 0) throw new Error(`${t.bin} output -json exited ${r.code}: ${r.output.trim()}`);
  const parsed = JSON.parse(r.output || "{}") as Record<string, { value: unknown }>;
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, v.value]));
}
