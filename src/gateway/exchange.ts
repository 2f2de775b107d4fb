// One egress exchange (a CONNECT tunnel or a forwarded absolute-form request) from its first
// byte to its audit line. What is learnt on the way (target, dialled address, SNI, bytes, the
// decision and how it ended) is kept here, and the exchange ends in exactly one final record:
// a second finish() is a no-op, so the first outcome to land (say a client leaving) is the one
// written. A tunnel also writes an "open" record once it is established (issue 13: a crash or
// SIGKILL must not leave an open tunnel untraced); it is the only other record it may write.
import { performance } from "node:perf_hooks";
import type { AuditEntry } from "./audit.js";
import type { Target } from "./target.js";

interface Outcome {
  decision: AuditEntry["decision"];
  code: string;
  reason: string;
  status: number;
}

// The gateway refusing (deny) or failing (error) before anything was relayed; `addr` is the
// refused answer, when one was.
export interface Refusal extends Outcome {
  decision: "deny" | "error";
  addr?: string;
}

export const malformed = (reason: string): Refusal => ({
  decision: "deny",
  code: "malformed",
  reason,
  status: 400,
});

// Milliseconds to two decimals, as the audit trail has always carried them.
const since = (start: number) => Math.round((performance.now() - start) * 100) / 100;

export class Exchange {
  readonly start = performance.now();
  private host = "";
  private port = 0;
  // The address dialled (or refused); written whenever it is known, even as "".
  addr?: string;
  sni?: string;
  up = 0;
  down = 0;
  // The decision so far: the vetting's verdict, amended by the SNI screen.
  private outcome?: Outcome;
  private opened = false;
  private finished = false;

  constructor(
    readonly method: string,
    readonly client: string,
    private readonly write: (entry: AuditEntry) => void,
  ) {}

  aimAt(target: Target): void {
    this.host = target.host;
    this.port = target.port;
  }

  decide({ decision, code, reason, status }: Outcome): void {
    this.outcome = { decision, code, reason, status };
  }

  // Add to the reason of the decision so far (the SNI screen's note on a passed tunnel).
  note(text: string): void {
    if (!this.outcome)
      throw new Error(`${this.method} ${this.host}:${this.port}: a note before any decision`);
    this.outcome.reason = `${this.outcome.reason}; ${text}`;
  }

  elapsedSeconds(): number {
    return (performance.now() - this.start) / 1000;
  }

  // The tunnel's "open" record: once, and never after the final one.
  open(): void {
    if (this.opened || this.finished) return;
    this.opened = true;
    this.write({ ...this.entry(), phase: "open" });
  }

  // The final record, with `outcome` or else the decision so far. Returns false (and writes
  // nothing) when the exchange had already finished.
  finish(outcome?: Outcome): boolean {
    if (this.finished) return false;
    this.finished = true;
    if (outcome) this.decide(outcome);
    this.write(this.entry());
    return true;
  }

  refuse(refusal: Refusal): boolean {
    if (this.finished) return false;
    if (refusal.addr) this.addr = refusal.addr;
    return this.finish(refusal);
  }

  // Field order as the trail has always had it (a line is read by people too).
  private entry(): AuditEntry {
    const o = this.outcome;
    if (!o) throw new Error(`${this.method} ${this.host}:${this.port} ended with no decision`);
    return {
      client: this.client,
      method: this.method,
      host: this.host,
      port: this.port,
      ...(this.addr !== undefined ? { addr: this.addr } : {}),
      decision: o.decision,
      code: o.code,
      reason: o.reason,
      status: o.status,
      up: this.up,
      down: this.down,
      ms: since(this.start),
      ...(this.sni !== undefined ? { sni: this.sni } : {}),
    };
  }
}
