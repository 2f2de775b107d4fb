// What keeps the agent from flushing the audit trail: every string in a line is cut to a few
// hundred bytes (keeping its length and a hash, so two long values can still be told apart),
// and each client's refusals are limited in volume, with a counted "suppressed" line in their
// place. Lines that record traffic that went out (allowed egress, forwarded LLM and Telegram
// calls) are never suppressed: they are the record of what could have carried data away.
import { createHash } from "node:crypto";
import type { AuditRecord, SuppressedRecord } from "./audit.js";

const MAX_VALUE_BYTES = 256;
const KEPT_CHARS = 200;

function bounded(value: string): string {
  const bytes = Buffer.byteLength(value);
  if (bytes <= MAX_VALUE_BYTES) return value;
  const sha = createHash("sha256").update(value).digest("hex").slice(0, 16);
  return `${value.slice(0, KEPT_CHARS)}… [${bytes} bytes, sha256 ${sha}]`;
}

// A copy of the line with every top-level string bounded (lines are flat by design).
export function boundValues<T extends object>(entry: T): T {
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== "string" || v.length <= MAX_VALUE_BYTES / 4) continue;
    const b = bounded(v);
    if (b === v) continue;
    out ??= { ...(entry as Record<string, unknown>) };
    out[k] = b;
  }
  return (out ?? entry) as T;
}

export interface VolumeLimit {
  // Bytes of limited lines one client may have written at once, and per second after that.
  burstBytes: number;
  bytesPerSecond: number;
  // How often a client's count of suppressed lines is written while it is suppressed.
  reportEveryMs: number;
}

// 256 KiB at once, then 4 KiB/s: the default 5 × 10 MiB of history takes a sustained flood over
// three hours to turn over, and an honest agent's refusals never come near it.
export const DEFAULT_VOLUME: VolumeLimit = {
  burstBytes: 256 << 10,
  bytesPerSecond: 4 << 10,
  reportEveryMs: 10_000,
};

type Line = Record<string, unknown>;

// Traffic that went out: never suppressed.
function recordsTraffic(e: Line): boolean {
  if (e.decision === "allow" || e.decision === "report") return true;
  if (e.event === "telegram.call") return true;
  return e.event === "llm.call" && e.outcome !== "refused" && e.outcome !== "over_budget";
}

interface Bucket {
  tokens: number;
  at: number;
  suppressed: number;
  suppressedBytes: number;
  since: number;
}

export class VolumeLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastReport: number;

  constructor(
    private readonly limit: VolumeLimit,
    private readonly clock: () => number,
    private readonly write: (line: Line) => void,
  ) {
    this.lastReport = clock();
  }

  record(entry: AuditRecord): void {
    const e = entry as Line;
    const now = this.clock();
    if (now - this.lastReport >= this.limit.reportEveryMs) this.report(now);
    if (recordsTraffic(e)) {
      this.write(e);
      return;
    }
    // The agent-facing routes' lines carry no client; they share one budget.
    const key = typeof e.client === "string" ? e.client : "routes";
    const b = this.bucket(key, now);
    // Each line costs roughly what it weighs in the file (JSON, time and newline added).
    const cost = JSON.stringify(e).length + 40;
    if (b.tokens < cost) {
      if (b.suppressed === 0) b.since = now;
      b.suppressed++;
      b.suppressedBytes += cost;
      return;
    }
    b.tokens -= cost;
    this.write(e);
  }

  // Written for every client with suppressed lines; called on the next line after reportEveryMs
  // and at close, so a count never waits on a timer (and none keeps the process alive).
  private report(now: number): void {
    this.lastReport = now;
    for (const [client, b] of this.buckets) {
      if (b.suppressed > 0) {
        const line: SuppressedRecord = {
          client,
          decision: "suppressed",
          code: "audit-volume",
          reason: `${b.suppressed} lines (${b.suppressedBytes} bytes) from ${client} over the audit volume limit since ${new Date(b.since).toISOString()}`,
          suppressed: b.suppressed,
          suppressedBytes: b.suppressedBytes,
        };
        this.write({ ...line });
        b.suppressed = 0;
        b.suppressedBytes = 0;
      } else if (this.refilled(b, now) >= this.limit.burstBytes) {
        this.buckets.delete(client);
      }
    }
  }

  private refilled(b: Bucket, now: number): number {
    return Math.min(this.limit.burstBytes, b.tokens + ((now - b.at) / 1000) * this.limit.bytesPerSecond);
  }

  private bucket(key: string, now: number): Bucket {
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.limit.burstBytes, at: now, suppressed: 0, suppressedBytes: 0, since: now };
      this.buckets.set(key, b);
      return b;
    }
    b.tokens = this.refilled(b, now);
    b.at = now;
    return b;
  }

  close(): void {
    this.report(this.clock());
  }
}
