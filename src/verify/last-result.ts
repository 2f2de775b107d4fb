// `moat verify` leaves its last result on the VM, so `moat status` can say when the perimeter
// was last proven and what failed, without probing again.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { STATE_DIR } from "../render/paths.js";
import type { CheckResult, Summary } from "./types.js";

export const LAST_VERIFY_FILE = join(STATE_DIR, "last-verify.json");

export interface LastVerify {
  at: string;
  summary: Summary;
  // Set when `--only` ran part of the checks.
  only?: string[];
  failed: { id: string; required: boolean; detail: string }[];
}

export function lastVerifyRecord(
  results: readonly CheckResult[],
  summary: Summary,
  at: Date,
  only?: string[],
): LastVerify {
  return {
    at: at.toISOString(),
    summary,
    ...(only && { only }),
    failed: results
      .filter((r) => r.status === "fail")
      .map((r) => ({ id: r.id, required: r.required, detail: r.detail })),
  };
}

export function writeLastVerify(record: LastVerify, file = LAST_VERIFY_FILE): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

export function readLastVerify(file = LAST_VERIFY_FILE): LastVerify | undefined {
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as LastVerify;
    return typeof r?.at === "string" && r.summary ? r : undefined;
  } catch {
    return undefined;
  }
}
