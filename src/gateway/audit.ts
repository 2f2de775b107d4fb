// The audit trail: one JSON line per decision, written by pino to a size-rotated file.
// Lines carry where a request went and what happened to it, never bodies or headers, so
// nothing the agent sends (credentials included) can land here.
import { mkdirSync, renameSync, statSync } from "node:fs";
import { dirname } from "node:path";
import pino from "pino";
import { LOG_DIR } from "../render/paths.js";
import { boundValues, DEFAULT_VOLUME, type VolumeLimit, VolumeLimiter } from "./audit-bounds.js";

import type { LlmAuditRecord } from "./llm/routes.js";
import type { TelegramAuditRecord } from "./telegram/relay.js";

// "suppressed": the count of one client's lines the volume limit left out (audit-bounds.ts).
export type AuditDecision = "allow" | "report" | "deny" | "error" | "suppressed";

// An egress decision: a CONNECT tunnel or a forwarded absolute-form request (exchange.ts builds
// every one), or a refusal of either.
export interface AuditEntry {
  client: string;
  method: string;
  host: string;
  port: number;
  // The address actually dialled (or the refused answer); absent when no address was involved.
  addr?: string;
  decision: Exclude<AuditDecision, "suppressed">;
  code: string;
  reason: string;
  status: number;
  up: number;
  down: number;
  ms: number;
  // The SNI a tunnel's ClientHello carried (cut to 253 characters); absent when it had none.
  sni?: string;
  // "open": a tunnel's first line, written when it is established (its last comes at close).
  phase?: "open";
  // "pull": written by host apply's pull listener (pull-listener.ts), not the agent's.
  listener?: "pull";
}

// Written by the volume limit itself in place of the lines it left out (audit-bounds.ts).
export interface SuppressedRecord {
  client: string;
  decision: "suppressed";
  code: "audit-volume";
  reason: string;
  suppressed: number;
  suppressedBytes: number;
}

// Everything the gateway hands the sink: egress lines carry `decision`, the agent-facing
// routes' lines an `event` ("llm.call", "telegram.call", "telegram.refuse", "telegram.drop").
export type AuditRecord = AuditEntry | LlmAuditRecord | TelegramAuditRecord;

// R narrows what a writer may hand over: the egress server takes AuditSink<AuditEntry>, and
// the whole sink (AuditSink) is one.
export interface AuditSink<R extends AuditRecord = AuditRecord> {
  record(entry: R): void;
  close(): void;
}

export const DEFAULT_AUDIT_LOG = `${LOG_DIR}/gateway-audit.log`;

// Rotation is done here rather than by a transport (pino-roll): transports run in a worker
// thread, which costs memory and moves the write off the thread that can flush on SIGTERM.
class RotatingFile {
  private readonly out: ReturnType<typeof pino.destination>;
  private size: number;

  constructor(
    readonly file: string,
    private readonly maxBytes: number,
    private readonly keep: number,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
    try {
      this.size = statSync(file).size;
    } catch {
      this.size = 0;
    }
    this.out = pino.destination({ dest: file, append: true, sync: false, mode: 0o640 });
    this.out.on("ready", () => {
      this.opening = false;
    });
  }

  // The descriptor opens asynchronously (at start and after each rotation); rotating again
  // before it has would rename a file that does not exist yet.
  private opening = true;

  private closed = false;

  write(line: string): boolean {
    if (this.closed) {
      process.stderr.write(`moat gateway: audit line after close: ${line}`);
      return false;
    }
    // JSON lines here are ASCII (punycode hosts, escaped reasons), so length is bytes.
    this.size += line.length;
    const ok = this.out.write(line);
    if (this.size >= this.maxBytes && !this.opening) this.rotate();
    return ok;
  }

  // file → file.1 → … → file.<keep>; the oldest falls off. Pending async writes land in
  // file.1 (the descriptor follows the rename), then reopen() starts a fresh file.
  private rotate(): void {
    for (let i = this.keep - 1; i >= 1; i--) {
      try {
        renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
      } catch {}
    }
    try {
      renameSync(this.file, `${this.file}.1`);
    } catch {}
    this.size = 0;
    this.opening = true;
    this.out.reopen();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.out.flushSync();
    } catch {}
    this.out.end();
  }
}

export interface AuditLogOptions {
  maxBytes?: number;
  keep?: number;
  volume?: Partial<VolumeLimit>;
  clock?: () => number;
}

export function openAuditLog(file: string, opts: AuditLogOptions = {}): AuditSink {
  const stream = new RotatingFile(file, opts.maxBytes ?? 10 * 1024 * 1024, opts.keep ?? 5);
  // No level, pid or hostname: every line is a decision. With the level formatter empty,
  // pino opens the line with "{" alone, so the timestamp must not start with a comma
  // (the audit unit test parses every line, so a pino change here cannot go unnoticed).
  const logger = pino(
    {
      base: null,
      timestamp: () => `"time":"${new Date().toISOString()}"`,
      formatters: { level: () => ({}) },
    },
    stream,
  );
  const limiter = new VolumeLimiter({ ...DEFAULT_VOLUME, ...opts.volume }, opts.clock ?? Date.now, (e) =>
    logger.info(e),
  );
  return {
    record: (entry) => limiter.record(boundValues(entry)),
    close: () => {
      limiter.close();
      stream.close();
    },
  };
}

export const nullAudit: AuditSink = { record() {}, close() {} };
