// Per-provider, per-day spend. Days are UTC days. Every charge is written through to a state
// file before the call's audit line, so a restart (or a crash) cannot reset the day's spend.
// The budget is a cap: a call first reserves its worst case, calls in flight see each other's
// reservations, and a call whose reservation does not fit is refused before it is forwarded.
// Reservations live in memory only; a crash ends the calls that held them.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export interface BudgetState {
  day: string; // YYYY-MM-DD, UTC
  spentUsd: Record<string, number>;
}

export interface BudgetStore {
  load(): BudgetState | undefined;
  save(state: BudgetState): void;
}

export const utcDay = (d: Date) => d.toISOString().slice(0, 10);

export function nextUtcMidnight(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1));
}

export interface Reservation {
  provider: string;
  usd: number;
}

export type ReserveResult = { ok: true; reservation: Reservation } | { ok: false; leftUsd: number };

export class Budget {
  private state: BudgetState;
  private readonly reserved = new Map<string, number>();

  constructor(
    private limits: Readonly<Record<string, number | undefined>>,
    private readonly store: BudgetStore,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.state = store.load() ?? { day: utcDay(clock()), spentUsd: {} };
  }

  // A new UTC day starts from zero; yesterday's file is simply overwritten on the next charge.
  private today(): BudgetState {
    const day = utcDay(this.clock());
    if (this.state.day !== day) this.state = { day, spentUsd: {} };
    return this.state;
  }

  spent(provider: string): number {
    return this.today().spentUsd[provider] ?? 0;
  }

  // A reload changes the limits, never the day's spend (one Budget lives as long as the process).
  setLimits(limits: Readonly<Record<string, number | undefined>>): void {
    this.limits = limits;
  }

  limit(provider: string): number | undefined {
    return this.limits[provider];
  }

  exhausted(provider: string): boolean {
    const limit = this.limits[provider];
    return limit !== undefined && this.spent(provider) >= limit;
  }

  resetsAt(): Date {
    return nextUtcMidnight(this.clock());
  }

  // Held by calls in flight, on top of what is spent.
  reservedUsd(provider: string): number {
    return this.reserved.get(provider) ?? 0;
  }

  // Synchronous check-and-hold: nothing can run between the check and the hold.
  reserve(provider: string, usd: number): ReserveResult {
    const limit = this.limits[provider];
    const held = this.reservedUsd(provider);
    if (limit !== undefined) {
      const leftUsd = Math.max(0, limit - this.spent(provider) - held);
      if (usd > leftUsd) return { ok: false, leftUsd };
    }
    this.reserved.set(provider, held + usd);
    return { ok: true, reservation: { provider, usd } };
  }

  // Release the hold and charge what the call actually cost (which may exceed the hold when a
  // provider reports more than the worst case; the real cost is what the day is charged).
  settle(reservation: Reservation, usd: number): void {
    const held = this.reservedUsd(reservation.provider) - reservation.usd;
    if (held > 1e-12) this.reserved.set(reservation.provider, held);
    else this.reserved.delete(reservation.provider);
    this.charge(reservation.provider, usd);
  }

  charge(provider: string, usd: number): void {
    if (!(usd > 0)) return;
    const state = this.today();
    state.spentUsd[provider] = (state.spentUsd[provider] ?? 0) + usd;
    this.store.save(state);
  }
}

// JSON file, replaced atomically (write a temp file, fsync, rename, fsync the directory).
export class FileBudgetStore implements BudgetStore {
  constructor(readonly path: string) {}

  load(): BudgetState | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    // A file we cannot read back would silently reset the day's spend; refuse to start instead.
    const parsed = JSON.parse(text) as BudgetState;
    if (typeof parsed?.day !== "string" || typeof parsed.spentUsd !== "object" || parsed.spentUsd === null) {
      throw new Error(`budget state ${this.path} is not a budget state file`);
    }
    return parsed;
  }

  save(state: BudgetState): void {
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify(state)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}
