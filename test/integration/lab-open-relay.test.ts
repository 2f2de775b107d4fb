// `moat lab open`'s forward without a VM: a namespace the test makes (linked to nothing) stands in
// for the VM's, with a web server on its 127.0.0.1 as the agent's published port. The server is
// unreachable from this machine's namespace until the forward runs, reachable on the forward's
// 127.0.0.1 port while it does, and unreachable again once it closes; the relay listens on nothing
// in the namespace, the listener here only on loopback.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type OpenForward, type OpenPlan, openForward } from "../../src/lab/open.js";
import { listenersOf, notOnLoopback, socketTable } from "../support/listeners.js";
import { TestNet } from "../support/netns.js";
import { needsRoot } from "../support/root.js";

const AGENT_PORT = 47_891;
const PAGE = "<title>stand-in agent UI</title>";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const get = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(5000) }).then(
    async (r) => `${r.status} ${await r.text()}`,
    (e: Error & { cause?: { code?: string } }) => `error ${e.cause?.code ?? e.message}`,
  );

describe("moat lab open: the forward into a namespace", {
  concurrency: false,
  timeout: 120_000,
  skip: needsRoot("network namespaces (ip netns)"),
}, () => {
  const net = new TestNet("moat-open");
  const dir = mkdtempSync(join(tmpdir(), "moat-open-relay-"));
  let ns: string;
  let plan: OpenPlan;
  let forward: OpenForward;

  before(async () => {
    ns = net.addNs("vm");
    const ui = net.spawn(ns, process.execPath, [
      "-e",
      `require("node:http").createServer((q, r) => r.end(${JSON.stringify(PAGE)})).listen(${AGENT_PORT}, "127.0.0.1", () => console.log("up"))`,
    ]);
    await new Promise<void>((resolve) => ui.stdout?.once("data", () => resolve()));
    plan = { vmNetns: ns, agentPort: AGENT_PORT, hostPort: 0, socket: join(dir, "open.sock") };
  });
  after(async () => {
    await forward?.close().catch(() => {});
    net.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the namespace's loopback is out of reach from here without the forward", async () => {
    assert.match(await get(`http://127.0.0.1:${AGENT_PORT}/`), /^error ECONNREFUSED/);
  });

  it("serves the namespace's loopback port on this machine's 127.0.0.1", async () => {
    forward = await openForward(plan);
    assert.match(forward.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(await get(forward.url), `200 ${PAGE}`);
    // Several at once, as a browser opens them.
    const all = await Promise.all(Array.from({ length: 8 }, () => get(forward.url)));
    assert.deepEqual(new Set(all), new Set([`200 ${PAGE}`]));
  });

  it("listens on loopback only here, and on nothing in the namespace", () => {
    const here = listenersOf(socketTable(), process.pid);
    assert.deepEqual(here, [{ proto: "tcp", local: `127.0.0.1:${forward.port}` }]);
    assert.deepEqual(notOnLoopback(here), []);
    assert.deepEqual(listenersOf(socketTable(ns), forward.relayPid), []);
    assert.ok(existsSync(plan.socket), "the halves meet at the Unix socket");
  });

  it("closing ends the relay and removes the socket; the port is out of reach again", async () => {
    const relay = forward.relayPid;
    await forward.close();
    assert.equal(existsSync(`/proc/${relay}`), false, "the relay is gone");
    assert.equal(existsSync(plan.socket), false);
    assert.match(await get(forward.url), /^error ECONNREFUSED/);
  });

  it("notices when the relay is killed under it (the lab went down)", async () => {
    forward = await openForward({ ...plan, socket: join(dir, "again.sock") });
    process.kill(forward.relayPid, "SIGKILL");
    const code = await Promise.race([forward.relayGone.then(() => "gone"), sleep(5000).then(() => "still")]);
    assert.equal(code, "gone");
  });
});
