// The getUpdates offset logic against a model of the Bot API's offset rules (updates below a
// call's offset are confirmed and gone). The relay's HTTP side is tested against a fake Bot API
// over TLS in test/integration/gateway-telegram*.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type BotResponse, type OffsetKeeper, relayGetUpdates } from "../../src/gateway/telegram/polling.js";
import { allowlistOf, filterUpdates, type Update } from "../../src/gateway/telegram/updates.js";
import { OWNER, STRANGER, updateOfType } from "../support/telegram-updates.js";

const allowlist = allowlistOf({ allowFrom: [OWNER], allowChats: [] });
const owner = (id: number) => ({ update_id: id, ...updateOfType("message", OWNER, OWNER) }) as Update;
const stranger = (id: number) =>
  ({ update_id: id, ...updateOfType("message", STRANGER, STRANGER) }) as Update;

// The Bot API's offset rules. A long poll with nothing pending "waits" by moving the clock.
class BotApiModel {
  pending: Update[] = [];
  calls: Record<string, unknown>[] = [];
  confirmedBelow = 0;
  clock = 0;
  onCall?: (offset: number) => void;

  call = async (p: Record<string, unknown>): Promise<BotResponse> => {
    this.calls.push(p);
    const offset = typeof p.offset === "number" ? p.offset : undefined;
    if (offset !== undefined && offset > 0) {
      this.onCall?.(offset);
      this.confirmedBelow = Math.max(this.confirmedBelow, offset);
      this.pending = this.pending.filter((u) => u.update_id >= offset);
    }
    let batch = this.pending;
    if (offset !== undefined && offset < 0) {
      batch = this.pending.slice(offset);
      this.pending = batch;
    }
    batch = batch.slice(0, typeof p.limit === "number" ? p.limit : 100);
    if (batch.length === 0) this.clock += Number(p.timeout ?? 0) * 1000;
    return { ok: true, result: batch };
  };
}

function relay(api: BotApiModel, keeper: OffsetKeeper, params: Record<string, unknown>) {
  return relayGetUpdates(params, keeper, {
    upstream: api.call,
    judge: (u) => filterUpdates(u, allowlist),
    onDrop: () => {},
    now: () => api.clock,
  });
}

const ids = (r: BotResponse) => (r.result as Update[]).map((u) => u.update_id);

test("an all-dropped batch is confirmed upstream by the relay and the poll goes on waiting", async () => {
  const api = new BotApiModel();
  api.pending = [stranger(1), stranger(2), stranger(3)];
  const keeper = { confirmedBelow: 0 };
  const r = await relay(api, keeper, { offset: 1, timeout: 30 });
  assert.deepEqual(ids(r), []);
  assert.deepEqual(
    api.calls.map((c) => [c.offset, c.timeout]),
    [
      [1, 30],
      [4, 30],
    ],
  );
  assert.equal(api.clock, 30_000, "the second call long-polled");
  // The agent asks again with its unchanged offset: the strangers are not fetched again.
  await relay(api, keeper, { offset: 1, timeout: 30 });
  assert.equal(api.calls.at(-1)?.offset, 4);
  assert.equal(api.calls.length, 3);
});

test("never confirms past an update the agent has not confirmed", async () => {
  const api = new BotApiModel();
  api.pending = [stranger(1), owner(2), stranger(3), owner(4), stranger(5)];
  const keeper = { confirmedBelow: 0 };
  const r = await relay(api, keeper, { offset: 1, timeout: 30 });
  assert.deepEqual(ids(r), [2, 4]);
  assert.equal(keeper.confirmedBelow, 2, "only the leading stranger is confirmed on the agent's behalf");
  assert.equal(api.confirmedBelow, 1);
  const next = await relay(api, keeper, { offset: 5, timeout: 0 });
  assert.deepEqual(ids(next), []);
  assert.equal(api.calls.at(-1)?.offset, 5);
  assert.equal(keeper.confirmedBelow, 6);
});

test("timeout 0 makes exactly one upstream call", async () => {
  const api = new BotApiModel();
  api.pending = [stranger(1), stranger(2)];
  const r = await relay(api, { confirmedBelow: 0 }, { offset: 1, timeout: 0 });
  assert.deepEqual(ids(r), []);
  assert.equal(api.calls.length, 1);
});

test("a Bot API that keeps answering with dropped updates cannot spin the relay forever", async () => {
  const api = new BotApiModel();
  api.call = async (p) => {
    api.calls.push(p);
    return { ok: true, result: [stranger(1)] };
  };
  const r = await relay(api, { confirmedBelow: 0 }, { offset: 1, timeout: 30 });
  assert.deepEqual(ids(r), []);
  assert.equal(api.calls.length, 100);
});

test("negative offsets are relayed as they are, and filtered", async () => {
  const api = new BotApiModel();
  api.pending = [owner(1), stranger(2), owner(3)];
  const keeper = { confirmedBelow: 0 };
  const r = await relay(api, keeper, { offset: -2, timeout: 0 });
  assert.deepEqual(ids(r), [3]);
  assert.equal(api.calls[0]?.offset, -2);
  assert.equal(keeper.confirmedBelow, 0);
});

test("Bot API errors pass through; bad parameters are the relay's own 400", async () => {
  const api = new BotApiModel();
  api.call = async () => ({
    ok: false,
    error_code: 409,
    description: "Conflict: terminated by other getUpdates request",
  });
  assert.equal((await relay(api, { confirmedBelow: 0 }, { offset: 1 })).error_code, 409);
  for (const bad of [{ offset: "x" }, { limit: 1.5 }, { timeout: "1e3" }]) {
    const r = await relay(new BotApiModel(), { confirmedBelow: 0 }, bad);
    assert.equal(r.error_code, 400, JSON.stringify(bad));
  }
  const str = new BotApiModel();
  str.pending = [owner(7)];
  assert.deepEqual(
    ids(await relay(str, { confirmedBelow: 0 }, { offset: "7", limit: "10", timeout: "0" })),
    [7],
  );
  assert.deepEqual(str.calls[0], { offset: 7, limit: 10, timeout: 0 });
});

// A small deterministic PRNG so a failure can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test("random arrivals, lost replies and relay restarts: each owner update processed once, in order", async () => {
  for (let seed = 1; seed <= 50; seed++) {
    const rand = rng(seed);
    const api = new BotApiModel();
    const processed: number[] = [];
    // The invariant under test, checked at every upstream call: nothing the agent has not
    // processed is ever confirmed.
    api.onCall = (offset) => {
      const unprocessed = api.pending.filter(
        (u) =>
          u.message &&
          (u.message as { from: { id: number } }).from.id === OWNER &&
          !processed.includes(u.update_id),
      );
      for (const u of unprocessed)
        assert.ok(u.update_id >= offset, `seed ${seed}: confirmed ${u.update_id} unseen`);
    };
    let keeper: OffsetKeeper = { confirmedBelow: 0 };
    let nextId = 1;
    let agentOffset = 0; // grammY starts at 0 + 1
    const sent: number[] = [];
    for (let step = 0; step < 60; step++) {
      for (let n = Math.floor(rand() * 4); n > 0; n--) {
        const id = nextId++;
        if (rand() < 0.5) {
          api.pending.push(owner(id));
          sent.push(id);
        } else api.pending.push(stranger(id));
      }
      if (rand() < 0.15) keeper = { confirmedBelow: 0 }; // the gateway restarted
      const limit = 1 + Math.floor(rand() * 3);
      const reply = await relay(api, keeper, {
        offset: agentOffset + 1,
        limit,
        timeout: rand() < 0.5 ? 0 : 5,
      });
      if (rand() < 0.2) continue; // the reply was lost on its way to the agent
      for (const u of reply.result as Update[]) {
        processed.push(u.update_id);
        agentOffset = u.update_id;
      }
    }
    // Drain what is left.
    for (let i = 0; i < 100 && api.pending.length; i++) {
      const reply = await relay(api, keeper, { offset: agentOffset + 1, limit: 100, timeout: 0 });
      for (const u of reply.result as Update[]) {
        processed.push(u.update_id);
        agentOffset = u.update_id;
      }
    }
    assert.deepEqual(processed, sent, `seed ${seed}`);
  }
});
