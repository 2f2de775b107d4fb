// The LLM routes' usage meter as a table: what a call is charged against the day's budget for
// each way it can end, and the refusals a spent budget gives before and at the reservation.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import type { Forward } from "../../src/gateway/llm/admission.js";
import { Budget, type BudgetState } from "../../src/gateway/llm/budget.js";
import type { Billing, CallResult } from "../../src/gateway/llm/forward.js";
import { UsageMeter } from "../../src/gateway/llm/meter.js";
import { EMPTY_USAGE } from "../../src/gateway/llm/usage.js";

const NOW = new Date("2026-12-03T12:00:00Z");
const memory = () => {
  let state: BudgetState | undefined;
  return {
    load: () => state,
    save: (s: BudgetState) => {
      state = s;
    },
  };
};
const meterWith = (limitUsd = 1) =>
  new UsageMeter(new Budget({ p: limitUsd }, memory(), () => NOW), new Registry(), ["p"], () => NOW);

// $1 per million input tokens, $2 per million output tokens; a $0.01 hold.
const ADMITTED: Forward = {
  model: "m",
  price: { inputPerMTok: 1, outputPerMTok: 2 },
  priceSource: "override",
  reservationUsd: 0.01,
};
const result = (billing: Billing, outputTokens: number): CallResult => ({
  status: 200,
  outcome: "forwarded",
  stream: false,
  usage: { ...EMPTY_USAGE, inputTokens: 1000, outputTokens },
  billing,
});

// billing, output tokens, charged USD
const rows: [string, Billing, number, number][] = [
  ["measured usage is charged as measured", "measured", 500, 0.002],
  ["no usage report: the hold is charged", "reservation", 500, 0.01],
  ["no usage report, yet more measured than held: the measured", "reservation", 10_000, 0.021],
  ["never reached the provider: nothing", "none", 500, 0],
];

type Settle = (meter: UsageMeter, r: CallResult) => number;
const settled: Settle = (meter, r) => {
  const reserved = meter.reserve("p", ADMITTED);
  assert.ok("hold" in reserved);
  return meter.settle("p", ADMITTED, reserved.hold, r).costUsd;
};
const holds = (settle: Settle) =>
  rows.every(([, billing, out, usd]) => {
    const meter = meterWith();
    const charged = settle(meter, result(billing, out));
    return Math.abs(charged - usd) < 1e-12 && Math.abs(meter.budget.spent("p") - usd) < 1e-12;
  });

describe("UsageMeter.settle", () => {
  for (const [name, billing, out, usd] of rows) {
    test(name, () => {
      const meter = meterWith();
      const fields = settled(meter, result(billing, out));
      assert.ok(Math.abs(fields - usd) < 1e-12, `${fields} != ${usd}`);
      assert.ok(Math.abs(meter.budget.spent("p") - usd) < 1e-12);
    });
  }

  test("negative control: a meter that charges what it measured, whatever the billing, goes red", () => {
    assert.equal(holds(settled), true);
    const measuredOnly: Settle = (meter, r) => settled(meter, { ...r, billing: "measured" });
    assert.equal(holds(measuredOnly), false);
  });
});

describe("UsageMeter refusals", () => {
  test("a hold larger than what is left is refused with retry headers", () => {
    const meter = meterWith(0.005);
    const refused = meter.reserve("p", ADMITTED);
    assert.ok(!("hold" in refused));
    assert.equal(refused.status, 429);
    assert.match(
      refused.reason,
      /may cost up to \$0\.0100 .* \$0\.0050 of p's \$0\.005 daily budget is left/,
    );
    assert.equal(refused.headers["x-should-retry"], "false");
    assert.equal(refused.headers["retry-after"], 12 * 3600);
  });

  test("a spent day is refused before the body is read", () => {
    const meter = meterWith(0.01);
    assert.equal(meter.spentOut("p"), undefined);
    settled(meter, result("reservation", 0));
    assert.match(
      meter.spentOut("p")?.reason ?? "",
      /daily budget for p is spent .* resets at 2026-12-04T00:00:00\.000Z/,
    );
  });
});
