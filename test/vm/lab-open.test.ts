// `moat lab open` against a lab running the real OpenClaw: the URL it prints serves OpenClaw's
// Control UI on this machine's 127.0.0.1; the forward listens on nothing else here and on nothing
// at all in the VM's namespace; the token command it prints reads the token the agent runs with;
// headless Chromium opens the URL (a screenshot is saved) without anything leaving this machine;
// Ctrl-C ends the relay and removes its socket. Needs an npm prefix holding openclaw and Node 24
// (MOAT_OPENCLAW_PREFIX, see scripts/openclaw-validator.sh) and Debian's chromium.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { labVm, readState } from "../../src/lab/lab.js";
import type { LabVm } from "../../src/lab/vm.js";
import { chromiumMissing, notChromiumsOwn, screenshot, startSink } from "../support/chromium.js";
import { AS_AGENT } from "../support/host-lab.js";
import { labCli } from "../support/lab-cli.js";
import { listenersOf, notOnLoopback, socketTable } from "../support/listeners.js";
import { needsRoot } from "../support/root.js";

const REPO = new URL("../..", import.meta.url).pathname;
const prefix = process.env.MOAT_OPENCLAW_PREFIX ?? "";
const skip =
  needsRoot("the lab's namespaces and VM") ||
  (!prefix || !existsSync(join(prefix, "node_modules/openclaw/package.json"))
    ? "set MOAT_OPENCLAW_PREFIX to an npm prefix with openclaw and Node 24 (scripts/openclaw-validator.sh)"
    : false);

const NAME = "ocopen";
const CONTAINER = `moat-${NAME}-agent`;
const SPEC = `version: 1
name: ${NAME}
target: { kind: lab }
agent: { profile: openclaw }
access: { sshUsers: [root] }
messengers:
  telegram:
    botToken: { file: /etc/moat-secrets/telegram-bot-token }
    allowFrom: [111111]
llm:
  - { name: main, kind: openai, apiKey: { env: OPENAI_API_KEY }, models: ["gpt-5.4"] }
`;
// Where a copy of the screenshot goes (the README's docs/lab-open.png), when asked.
const SCREENSHOT_OUT = process.env.MOAT_LAB_OPEN_SCREENSHOT;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("moat lab open: OpenClaw's Control UI on this machine's loopback", {
  skip: skip || chromiumMissing(),
  concurrency: false,
  timeout: 900_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "moat-lab-open-"));
  const moat = labCli(dir);
  let vm: LabVm;
  let open: ChildProcess;
  let printed = "";
  let url = "";
  const relayPid = () =>
    Number(spawnSync("pgrep", ["-P", String(open.pid)], { encoding: "utf8" }).stdout.trim());

  before(async () => {
    writeFileSync(join(dir, "moat.yaml"), SPEC);
    assert.doesNotMatch(socketTable(), /:18789\s/, "port 18789 is free on this machine");
    moat("lab", "down");
    const started = performance.now();
    const up = moat("lab", "up");
    assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
    console.log(`# lab up with OpenClaw: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const state = readState(NAME);
    assert.ok(state, "lab state recorded");
    vm = labVm(state);
    open = spawn(
      process.execPath,
      // The default port: OpenClaw takes the Control UI only from its own port's loopback origin.
      [join(REPO, "bin/moat.js"), "lab", "open", "-c", join(dir, "moat.yaml")],
      { cwd: dir, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    open.stdout?.on("data", (d: Buffer) => {
      printed += d.toString();
    });
    open.stderr?.on("data", (d: Buffer) => {
      printed += d.toString();
    });
    const deadline = Date.now() + 30_000;
    while (!/Ctrl-C/.test(printed)) {
      assert.ok(Date.now() < deadline && open.exitCode === null, `moat lab open did not start:\n${printed}`);
      await sleep(100);
    }
    url = printed.match(/http:\/\/127\.0\.0\.1:\d+\//)?.[0] ?? "";
    console.log(`# moat lab open printed:\n${printed.replace(/^/gm, "#   ")}`);
  });
  after(() => {
    if (open && open.exitCode === null) open.kill("SIGKILL");
    moat("lab", "down");
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints a loopback URL that serves OpenClaw's Control UI", async () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/, printed);
    // OpenClaw answers once its gateway is up; the container may still be starting.
    let html = "";
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await fetch(url).catch(() => undefined);
      if (r?.status === 200) {
        html = await r.text();
        break;
      }
      assert.ok(Date.now() < deadline, `no answer from ${url} within 120 s (last: ${r?.status})`);
      await sleep(1000);
    }
    assert.match(html, /<title>OpenClaw Control<\/title>/);
    assert.match(html, /data-openclaw-control-ui-build-id="/);
  });

  it("prints a command that reads the gateway token the agent runs with", () => {
    const command = printed.match(/^\s+(sudo sed -n .*)$/m)?.[1];
    assert.ok(command, printed);
    assert.match(printed, /\/etc\/moat-secrets\/agent-compose\.env in the VM/);
    const token = spawnSync("sh", ["-c", command.replace(/^sudo /, "")], { encoding: "utf8" }).stdout.trim();
    assert.match(token, /^\S{16,}$/, "the command prints the token");
    const env = vm.exec([...AS_AGENT, "docker", "inspect", CONTAINER, "--format", "{{json .Config.Env}}"]);
    assert.ok(
      (JSON.parse(env.stdout) as string[]).includes(`OPENCLAW_GATEWAY_TOKEN=${token}`),
      "the container's token is the one the command reads",
    );
  });

  it("listens on 127.0.0.1 only here and on nothing in the VM's namespace", () => {
    const state = readState(NAME);
    assert.ok(state);
    const here = listenersOf(socketTable(), open.pid ?? 0);
    assert.deepEqual(here, [{ proto: "tcp", local: url.slice("http://".length, -1) }]);
    assert.deepEqual(notOnLoopback(here), []);
    const relay = relayPid();
    assert.ok(relay > 0, "the relay runs as the forward's child");
    const netns = spawnSync("ip", ["netns", "identify", String(relay)], { encoding: "utf8" }).stdout.trim();
    assert.equal(netns, state.namespaces.vm, "the relay runs in the VM's namespace");
    const vmTable = socketTable(state.namespaces.vm);
    assert.deepEqual(listenersOf(vmTable, relay), [], "the relay has no TCP/UDP socket listening in the VM");
    // Its one listener is the Unix socket in the lab's root-only state directory.
    const unix = spawnSync("ip", ["netns", "exec", state.namespaces.vm, "ss", "-H", "-lxp"], {
      encoding: "utf8",
    })
      .stdout.split("\n")
      .filter((l) => l.includes(`pid=${relay},`));
    assert.equal(unix.length, 1, unix.join("\n"));
    assert.match(unix[0] ?? "", new RegExp(`/run/moat-lab/${NAME}/open-\\d+\\.sock`));
    // Negative control: the same check run on the VM's sshd, which listens on every address.
    const sshd = Number(vmTable.match(/"sshd",pid=(\d+),/)?.[1]);
    assert.ok(sshd > 0, `sshd listens in the VM:\n${vmTable}`);
    assert.ok(notOnLoopback(listenersOf(vmTable, sshd)).length > 0, "the check sees a non-loopback listener");
  });

  it("opens in headless Chromium, with nothing leaving this machine", async () => {
    const sink = await startSink();
    const shots = mkdtempSync(join(tmpdir(), "moat-lab-open-shot-"));
    try {
      const png = join(shots, "lab-open.png");
      const started = performance.now();
      const r = await screenshot(url, png, sink);
      console.log(`# chromium screenshot: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      assert.equal(r.code, 0, r.stderr.slice(-3000));
      const bytes = readFileSync(png);
      assert.deepEqual([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join(""), "PNG");
      assert.ok(
        statSync(png).size > 10_000,
        `a rendered page, not a blank one (${statSync(png).size} bytes)`,
      );
      if (SCREENSHOT_OUT) {
        copyFileSync(png, SCREENSHOT_OUT);
        // What the owner sees once the token is given (the Control UI reads #token= and drops it).
        const token = readFileSync(join(vm.root, "/etc/moat-secrets/agent-compose.env"), "utf8").match(
          /^OPENCLAW_GATEWAY_TOKEN=(.*)$/m,
        )?.[1];
        const signedIn = SCREENSHOT_OUT.replace(/\.png$/, "-token.png");
        const t = await screenshot(`${url}#token=${token}`, signedIn, sink);
        assert.equal(t.code, 0, t.stderr.slice(-3000));
      }
      console.log(`# Chromium's own background requests, held at the sink: ${JSON.stringify(sink.seen)}`);
      assert.deepEqual(notChromiumsOwn(sink.seen), [], "the page asked for nothing beyond loopback");
      // Negative control: a page that does ask for something outside is caught by the same check.
      const leak = await screenshot(
        'data:text/html,<img src="http://example.org/moat-leak.png">',
        join(shots, "leak.png"),
        sink,
      );
      assert.equal(leak.code, 0, leak.stderr.slice(-3000));
      assert.deepEqual(notChromiumsOwn(sink.seen), ["GET http://example.org/moat-leak.png HTTP/1.1"]);
    } finally {
      await sink.close();
      rmSync(shots, { recursive: true, force: true });
    }
  });

  it("Ctrl-C ends the forward, its relay and its socket", async () => {
    const relay = relayPid();
    const socket = readFileSync(`/proc/${relay}/cmdline`, "utf8")
      .split("\0")
      .find((a) => a.endsWith(".sock"));
    assert.ok(socket && existsSync(socket));
    open.kill("SIGINT");
    const code = await new Promise<number | null>((r) =>
      open.exitCode === null ? open.once("exit", r) : r(open.exitCode),
    );
    assert.equal(code, 0, printed);
    assert.match(printed, /forward closed/);
    assert.equal(existsSync(`/proc/${relay}`), false, "the relay is gone");
    assert.equal(existsSync(socket), false, "its socket is removed");
    await assert.rejects(fetch(url), "nothing answers on the URL any more");
  });
});
