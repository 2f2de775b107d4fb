import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { BodyBudget, BodyRefused, bodyLimitsFor, gatewayMemory } from "../../src/gateway/body-budget.js";
import { specFrom } from "../helpers.js";

function call(client: string, declared?: number) {
  const req = Object.assign(new PassThrough(), {
    socket: { remoteAddress: client },
    headers: declared === undefined ? {} : { "content-length": String(declared) },
  }) as unknown as IncomingMessage & PassThrough;
  const res = Object.assign(new EventEmitter(), { shouldKeepAlive: true }) as unknown as ServerResponse;
  return { req, res, done: () => res.emit("close") };
}
const refusal = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof BodyRefused, String(err));
    return `${err.status} ${err.message}`;
  }
  return "read";
};

describe("body budget", () => {
  const limits = { totalBytes: 100, perClient: 2, deadlineMs: 1000 };

  it("reads a body and holds its bytes until the reply closes", async () => {
    const b = new BodyBudget(limits);
    const a = call("c1", 5);
    const read = b.read(a.req, a.res, 50);
    a.req.end("hello");
    assert.equal((await read).toString(), "hello");
    assert.equal(b.heldBytes, 5);
    a.done();
    assert.equal(b.heldBytes, 0);
  });

  it("refuses what does not fit: declared, grown by chunks, per client, too large", async () => {
    const b = new BodyBudget(limits);
    const first = call("c1", 60);
    b.read(first.req, first.res, 100).catch(() => {});
    assert.match(
      await refusal(b.read(call("c2", 60).req, call("c2").res, 100)),
      /^503 the gateway holds 60 bytes of request bodies, its limit is 100 bytes/,
    );
    const chunked = call("c2");
    const growing = b.read(chunked.req, chunked.res, 100);
    chunked.req.write(Buffer.alloc(30));
    chunked.req.write(Buffer.alloc(30));
    assert.match(await refusal(growing), /^503 /);
    assert.equal(b.heldBytes, 60, "the refused chunked body released what it held");
    const second = call("c1", 1);
    b.read(second.req, second.res, 100).catch(() => {});
    assert.equal(
      await refusal(b.read(call("c1", 1).req, call("c1").res, 100)),
      "429 more than 2 request bodies in flight from c1",
    );
    assert.match(await refusal(b.read(call("c3", 101).req, call("c3").res, 100)), /^413 /);
    first.done();
    second.done();
    assert.equal(b.heldBytes, 0);
  });

  it("a client that leaves mid-body releases what it held, and later chunks reserve nothing", async () => {
    const b = new BodyBudget(limits);
    const gone = call("c1");
    const read = b.read(gone.req, gone.res, 100);
    gone.req.write(Buffer.alloc(40));
    await new Promise((r) => setImmediate(r));
    assert.equal(b.heldBytes, 40);
    gone.done();
    gone.req.write(Buffer.alloc(40));
    await assert.rejects(read, /client closed/);
    assert.equal(b.heldBytes, 0);
  });

  it("cuts a body that does not arrive within the deadline", async () => {
    const b = new BodyBudget({ ...limits, deadlineMs: 50 });
    const slow = call("c1", 10);
    const read = b.read(slow.req, slow.res, 100);
    slow.req.write("abc");
    assert.equal(await refusal(read), "408 request body not received within 0.05 s");
    assert.equal(b.heldBytes, 0);
  });

  it("is sized from the spec: one maximal body fits, and the unit's memory follows", () => {
    const withTelegram = specFrom();
    const llmOnly = specFrom(`
version: 1
name: x
target: { kind: lab }
llm: [{ name: m, kind: openai, apiKey: { env: K }, models: [gpt-5.4] }]
`);
    assert.equal(bodyLimitsFor(withTelegram).totalBytes, 68 << 20);
    assert.equal(bodyLimitsFor(llmOnly).totalBytes, 48 << 20);
    const m = gatewayMemory(llmOnly);
    assert.equal(m.high, (128 + 6 * 48) << 20);
    assert.equal(m.max, m.high * 1.5);
  });
});
