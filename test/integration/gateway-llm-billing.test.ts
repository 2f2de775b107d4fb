// Issue 13 item 4: usage that cannot be read is charged at the call's reservation, never at
// zero — a reply with no usable usage report, and a reply too large for the gateway to keep.
// Loopback only (see llm-world.ts).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { LlmWorld } from "../support/llm-world.js";

describe("a call whose usage cannot be read is charged its reservation", () => {
  const world = new LlmWorld();
  before(() => world.start());
  after(() => world.stop());
  const client = () =>
    new OpenAI({ apiKey: world.placeholder("gpt"), baseURL: world.route("gpt"), maxRetries: 0 });
  const ask = () =>
    client().chat.completions.create({
      model: "gpt-4o-mini",
      max_tokens: 1000,
      messages: [{ role: "user", content: "hi" }],
    });

  test("a reply whose usage names no tokens", async () => {
    const saved = world.fake.usage;
    // The fake then answers `"usage": {"total_tokens": null}`: an unknown shape.
    world.fake.usage = { input: undefined, output: undefined } as unknown as typeof saved;
    try {
      const before = world.routes.budget.spent("gpt");
      await ask();
      const rec = world.audit.at(-1);
      console.log(`unreadable usage: charged $${rec?.costUsd} (reserved $${rec?.reservedUsd})`);
      assert.ok((rec?.costUsd ?? 0) >= (1000 * 0.6) / 1e6, `charged $${rec?.costUsd}, not the reservation`);
      assert.equal(rec?.charged, "reservation");
      assert.ok(world.routes.budget.spent("gpt") - before >= (1000 * 0.6) / 1e6);
    } finally {
      world.fake.usage = saved;
    }
  });

  test("a reply over the 8 MiB the gateway keeps", async () => {
    const saved = world.fake.pieces;
    world.fake.pieces = ["x".repeat(9 << 20)];
    try {
      const reply = await ask();
      assert.equal(reply.choices[0]?.message.content?.length, 9 << 20);
      const rec = world.audit.at(-1);
      console.log(`truncated reply: charged $${rec?.costUsd} (reserved $${rec?.reservedUsd})`);
      assert.ok((rec?.costUsd ?? 0) >= (1000 * 0.6) / 1e6, `charged $${rec?.costUsd}, not the reservation`);
    } finally {
      world.fake.pieces = saved;
    }
  });

  test("control: a readable usage report is charged as measured", async () => {
    await ask();
    const rec = world.audit.at(-1);
    assert.equal(rec?.costUsd, (11 * 0.15 + 7 * 0.6) / 1e6);
    assert.equal(rec?.charged, "measured");
  });
});
