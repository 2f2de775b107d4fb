import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  Budget,
  type BudgetState,
  type BudgetStore,
  FileBudgetStore,
  nextUtcMidnight,
} from "../../src/gateway/llm/budget.js";

const dir = mkdtempSync(join(tmpdir(), "moat-budget-"));
after(() => rmSync(dir, { recursive: true, force: true }));

class Clock {
  constructor(public now: Date) {}
  read = () => this.now;
}

class MemoryStore implements BudgetStore {
  saved: BudgetState[] = [];
  load = () => this.saved.at(-1);
  save(s: BudgetState) {
    this.saved.push(structuredClone(s));
  }
}

test("budget: spend accumulates per provider, exhausted at the limit", () => {
  const clock = new Clock(new Date("2026-03-01T10:00:00Z"));
  const b = new Budget({ main: 1, other: undefined }, new MemoryStore(), clock.read);
  assert.equal(b.exhausted("main"), false);
  b.charge("main", 0.6);
  b.charge("other", 50);
  assert.equal(b.exhausted("main"), false);
  b.charge("main", 0.4);
  assert.equal(b.spent("main"), 1);
  assert.equal(b.exhausted("main"), true);
  assert.equal(b.exhausted("other"), false, "no limit, never exhausted");
});

test("budget: a new UTC day starts from zero", () => {
  const clock = new Clock(new Date("2026-03-01T23:59:59Z"));
  const b = new Budget({ main: 1 }, new MemoryStore(), clock.read);
  b.charge("main", 2);
  assert.equal(b.exhausted("main"), true);
  assert.equal(b.resetsAt().toISOString(), "2026-03-02T00:00:00.000Z");
  clock.now = new Date("2026-03-02T00:00:00Z");
  assert.equal(b.spent("main"), 0);
  assert.equal(b.exhausted("main"), false);
});

test("budget: every charge is saved; zero and negative charges are not", () => {
  const store = new MemoryStore();
  const b = new Budget({ main: 1 }, store, () => new Date("2026-03-01T00:00:00Z"));
  b.charge("main", 0);
  b.charge("main", -3);
  b.charge("main", Number.NaN);
  assert.equal(store.saved.length, 0);
  b.charge("main", 0.25);
  assert.deepEqual(store.saved, [{ day: "2026-03-01", spentUsd: { main: 0.25 } }]);
});

test("budget: file store survives a restart, and yesterday's file does not count today", () => {
  const path = join(dir, "state", "llm-budget.json");
  const day1 = new Clock(new Date("2026-03-01T12:00:00Z"));
  const first = new Budget({ main: 1 }, new FileBudgetStore(path), day1.read);
  first.charge("main", 0.7);
  first.charge("main", 0.5);
  const restarted = new Budget({ main: 1 }, new FileBudgetStore(path), day1.read);
  assert.equal(restarted.spent("main"), 1.2);
  assert.equal(restarted.exhausted("main"), true);
  const nextDay = new Budget({ main: 1 }, new FileBudgetStore(path), () => new Date("2026-03-02T00:00:01Z"));
  assert.equal(nextDay.exhausted("main"), false);
  assert.deepEqual(readdirSync(join(dir, "state")), ["llm-budget.json"], "no temp files left behind");
  assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), { day: "2026-03-01", spentUsd: { main: 1.2 } });
});

test("budget: an unreadable state file stops the gateway instead of resetting the spend", () => {
  const path = join(dir, "corrupt.json");
  writeFileSync(path, "{not json");
  assert.throws(() => new Budget({ main: 1 }, new FileBudgetStore(path)));
  writeFileSync(path, JSON.stringify({ hello: 1 }));
  assert.throws(() => new Budget({ main: 1 }, new FileBudgetStore(path)), /not a budget state file/);
});

test("nextUtcMidnight", () => {
  assert.equal(
    nextUtcMidnight(new Date("2026-12-31T18:00:00-08:00")).toISOString(),
    "2027-01-02T00:00:00.000Z",
  );
  assert.equal(nextUtcMidnight(new Date("2026-02-28T00:00:00Z")).toISOString(), "2026-03-01T00:00:00.000Z");
});

test("budget: reservations are a cap — calls in flight see each other, settle charges the real cost", () => {
  const b = new Budget(
    { main: 1, free: undefined },
    new MemoryStore(),
    () => new Date("2026-03-01T10:00:00Z"),
  );
  const held = [0.3, 0.3, 0.3, 0.3].map((usd) => b.reserve("main", usd));
  assert.deepEqual(
    held.map((r) => r.ok),
    [true, true, true, false],
    "the fourth $0.30 does not fit in $1 with $0.90 held",
  );
  const refused = held[3];
  assert.ok(refused && !refused.ok && Math.abs(refused.leftUsd - 0.1) < 1e-9);
  assert.equal(b.spent("main"), 0, "a reservation is not a charge");
  const first = held[0];
  assert.ok(first?.ok);
  b.settle(first.reservation, 0.05);
  assert.ok(Math.abs(b.spent("main") - 0.05) < 1e-12);
  assert.ok(Math.abs(b.reservedUsd("main") - 0.6) < 1e-12);
  assert.ok(b.reserve("main", 0.3).ok, "the released part is free again");
  for (let i = 0; i < 100; i++) assert.ok(b.reserve("free", 1000).ok, "no limit, always fits");
});

test("negative control: without reservations (charge only after the call) the cap is overrun", () => {
  const b = new Budget({ main: 1 }, new MemoryStore(), () => new Date("2026-03-01T10:00:00Z"));
  // What the route did before: check `exhausted` on arrival, charge when the reply ends.
  const admitted = [1, 2, 3, 4, 5].filter(() => !b.exhausted("main"));
  for (const _ of admitted) b.charge("main", 0.3);
  assert.equal(admitted.length, 5);
  assert.ok(b.spent("main") > 1, "the old order lets concurrent calls overrun the cap");
});
