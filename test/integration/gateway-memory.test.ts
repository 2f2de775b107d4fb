// Memory has bounds (issue 13, item 8): six parallel 30 MiB LLM calls from one agent must not
// push the gateway past the memory its unit is given, the excess gets a clear 429/503, another
// client is still served, and a body sent too slowly is cut at its deadline.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { gatewayMemory } from "../../src/gateway/body-budget.js";
import { llmPlaceholder } from "../../src/spec/derive.js";
import { specFrom } from "../helpers.js";
import { AgentLab, labSpec, type Proc } from "../support/agent-lab.js";
import { inNs } from "../support/netns.js";
import { needsRoot } from "../support/root.js";

const MiB = 1 << 20;
// No daily budget: a 30 MiB call's worst case (every byte a token) would not fit one, and this
// test is about the bytes the gateway holds, not the money.
const SPEC_YAML = labSpec().replace(", budget: { dailyUsd: 1 }", "");
const spec = specFrom(SPEC_YAML);
const placeholder = llmPlaceholder(spec.llm[0] as (typeof spec.llm)[number]);
const status = (pid: number, key: string) =>
  Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) *
  1024;

describe("bounded request bodies", {
  skip: needsRoot("network namespaces (ip netns)"),
  concurrency: false,
}, () => {
  const lab = new AgentLab("mgw-mem");
  let gw: Proc;

  before(async () => {
    await lab.setup();
    // A second agent-side address: "another client".
    inNs(lab.agent, "ip", ["addr", "add", "198.18.0.3/24", "dev", "aga"]);
    gw = await lab.startGateway(SPEC_YAML, ["--body-timeout", "2s"]);
  });
  after(() => lab.cleanup());

  test("six parallel 30 MiB calls stay under the unit's MemoryHigh; the excess is refused; others served", async () => {
    const pid = gw.child.pid as number;
    const before = status(pid, "VmRSS");
    const flood = lab.spawn(lab.agent, [
      "test/support/body-flood.ts",
      "198.18.0.1",
      "3128",
      "/llm/gpt/chat/completions",
      placeholder,
      "6",
      String(30 * MiB),
      "198.18.0.3",
    ]);
    await flood.exited();
    const peak = status(pid, "VmHWM");
    const { high } = gatewayMemory(spec);
    process.stderr.write(
      `gateway RSS before ${(before / MiB).toFixed(0)} MiB, peak (VmHWM) ${(peak / MiB).toFixed(0)} MiB, MemoryHigh ${(high / MiB).toFixed(0)} MiB\n` +
        `${flood.lines.map((l) => `${l.big ? "big" : "small"} ${l.status} ${String(l.body).slice(0, 120)}`).join("\n")}\n`,
    );
    assert.equal(gw.child.exitCode, null, "the gateway exited");
    const bigs = flood.lines.filter((l) => l.big);
    assert.equal(bigs.length, 6, flood.stderr);
    const refused = bigs.filter((l) => l.status === 429 || l.status === 503);
    assert.ok(refused.length >= 1, "no big call was refused: nothing bounds them");
    for (const r of refused) assert.match(String(r.body), /request bodies/);
    assert.ok(
      bigs.some((l) => l.status === 200),
      "not even one big call was served",
    );
    assert.equal(flood.lines.find((l) => l.small)?.status, 200, "the other client was not served");
    assert.ok(
      peak < high,
      `peak ${(peak / MiB).toFixed(0)} MiB is over MemoryHigh ${(high / MiB).toFixed(0)} MiB`,
    );
  });

  test("bodies sent too slowly: the fifth from one client is refused at once, the rest cut at the deadline", async () => {
    const slow = lab.spawn(lab.agent, [
      "test/support/slow-bodies.ts",
      "198.18.0.1",
      "3128",
      "/llm/gpt/chat/completions",
      placeholder,
      "5",
    ]);
    await slow.exited();
    const lines = slow.lines as { status: number; ms: number; body: string }[];
    process.stderr.write(
      `${lines.map((l) => `${l.status} after ${l.ms} ms: ${l.body.slice(0, 100)}`).join("\n")}\n`,
    );
    assert.equal(lines.length, 5, slow.stderr);
    const limited = lines.filter((l) => l.status === 429);
    assert.equal(limited.length, 1, "the fifth body in flight from one client");
    assert.match(limited[0]?.body ?? "", /more than 4 request bodies in flight from 198\.18\.0\.2/);
    const late = lines.filter((l) => l.status === 408);
    assert.equal(late.length, 4);
    for (const l of late) {
      assert.ok(l.ms >= 1800 && l.ms < 5000, `cut after ${l.ms} ms with a 2 s deadline`);
      assert.match(l.body, /request body not received within 2 s/);
    }
    assert.equal(gw.child.exitCode, null);
  });
});
