// A host apply step that waits (a daemon coming up, a healthcheck) says what it waits for once
// the wait goes on: not for a short wait, then once every ten seconds, naming the first thing
// not yet so and the clock.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dueToSay, QUIET_WAIT_MS, waitFor, waitingLine } from "../../src/host/step.js";

describe("host apply: a long wait says what it waits for", () => {
  it("speaks only after the quiet period, then every ten seconds", () => {
    const rows: [now: number, said: number | null, due: boolean][] = [
      [0, null, false],
      [QUIET_WAIT_MS - 1, null, false],
      [QUIET_WAIT_MS, null, true],
      [QUIET_WAIT_MS + 9_999, QUIET_WAIT_MS, false],
      [QUIET_WAIT_MS + 10_000, QUIET_WAIT_MS, true],
    ];
    for (const [now, said, due] of rows) assert.equal(dueToSay(now, 0, said), due, `at ${now} ms`);
  });

  it("names the first problem, how many more, and the clock", () => {
    assert.equal(
      waitingLine(["gateway not listening on 198.18.0.1:8080", "metrics not up"], 12_400, 15_000),
      "still waiting for gateway not listening on 198.18.0.1:8080 (and 1 more), 12 s of 15 s",
    );
    assert.equal(
      waitingLine(["the container to be healthy"], 6_000, 60_000),
      "still waiting for the container to be healthy, 6 s of 60 s",
    );
  });

  it("a wait that ends quickly says nothing, and still returns the last problems", async () => {
    const said: string[] = [];
    let calls = 0;
    const left = await waitFor(
      () => (++calls < 3 ? ["not yet"] : []),
      2_000,
      (w) => said.push(w),
    );
    assert.deepEqual(left, []);
    assert.equal(said.length, 0);
    const timedOut = await waitFor(
      () => ["never"],
      300,
      (w) => said.push(w),
    );
    assert.deepEqual(timedOut, ["never"]);
    assert.equal(said.length, 0, "a 300 ms wait is under the quiet period");
  });
});
