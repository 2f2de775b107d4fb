// `moat logs` against a real gateway's audit trail: the gateway runs in a test namespace (the
// agent's requests come from another, the internet is a third, all linked only to each other);
// `moat logs` reads the file it writes, as the owner would on the VM. --denied --json lists
// exactly the refusals this test caused, each line unchanged; the readable form shows allows and
// errors too, on clean lines; --since drops what is older; --follow prints a refusal as it happens.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { GatewayLab, type GatewayProc, labYaml, PRIVATE, REPO } from "../support/gateway-lab.js";
import { needsRoot } from "../support/root.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MOAT = [`${REPO}/bin/moat.js`, "logs", "--local"];

describe("moat logs on a gateway's audit trail", {
  concurrency: false,
  skip: needsRoot("network namespaces (ip netns)"),
}, () => {
  const lab = new GatewayLab("mgw-logs");
  let gw: GatewayProc;
  const logs = (...args: string[]) =>
    spawnSync(process.execPath, [...MOAT, "--audit-log", gw.auditFile, ...args], {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
  const rawLines = () => readFileSync(gw.auditFile, "utf8").split("\n").filter(Boolean);

  before(async () => {
    await lab.setup();
    gw = await lab.startGateway(labYaml(), { tag: "logs" });
    // What this test does as the agent: one allowed tunnel, one name that does not resolve, and
    // four refusals (an unlisted name, the metadata service behind an allowlisted name, a
    // private literal, a malformed CONNECT).
    assert.equal((await lab.curl("https://public.test/")).status, 200);
    await lab.curl("https://missing.test/");
    assert.equal((await lab.curl("https://other.test/")).status, 403);
    assert.equal((await lab.curl("http://metadata.test/")).status, 403);
    assert.equal((await lab.curl(`http://${PRIVATE}/`)).status, 403);
    await lab.raw(["CONNECT bad..name:443 HTTP/1.1\r\nHost: x\r\n\r\n"]);
    await sleep(300);
  });
  after(async () => {
    await gw?.stop();
    lab.cleanup();
  });

  test("--denied --json: exactly the four refusals, each the gateway's own line unchanged", () => {
    const r = logs("--denied", "--json");
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.split("\n").filter(Boolean);
    const records = out.map((l) => JSON.parse(l) as { host: string; decision: string; code: string });
    assert.deepEqual(
      records.map((e) => [e.host, e.decision]),
      [
        ["other.test", "deny"],
        ["metadata.test", "deny"],
        [PRIVATE, "deny"],
        ["", "deny"],
      ],
    );
    assert.equal(records[3]?.code, "malformed");
    // Unchanged: each printed line is one of the file's, byte for byte.
    const file = new Set(rawLines());
    for (const l of out) assert.ok(file.has(l), `not a line of the audit file: ${l}`);
    // Negative control: the file holds more than the refusals, so the filter is what narrowed it.
    const all = logs("--json").stdout.split("\n").filter(Boolean);
    assert.ok(all.length > out.length + 1, `${all.length} lines in all`);
    assert.ok(all.some((l) => l.includes('"host":"public.test"') && l.includes('"decision":"allow"')));
  });

  test("the readable form: time, who, what, verdict, reason, one clean line each", () => {
    const r = logs();
    assert.equal(r.status, 0, r.stderr);
    console.log(r.stdout.replace(/^/gm, "# "));
    const t = "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ";
    assert.match(
      r.stdout,
      new RegExp(`^${t}  198\\.18\\.0\\.2 +CONNECT public\\.test:443 → \\S+  OPEN  tunnel open$`, "m"),
    );
    assert.match(
      r.stdout,
      new RegExp(
        `^${t}  198\\.18\\.0\\.2 +CONNECT public\\.test:443 → \\S+  ALLOW  200, up \\d+ B, down \\d+ B`,
        "m",
      ),
    );
    assert.match(
      r.stdout,
      new RegExp(`^${t}  198\\.18\\.0\\.2 +CONNECT other\\.test:443  DENY  not-allowlisted: `, "m"),
    );
    assert.match(r.stdout, new RegExp(`^${t}  198\\.18\\.0\\.2 +CONNECT missing\\.test:443  ERROR  `, "m"));
    assert.match(r.stdout, /GET metadata\.test:80 → 169\.254\.169\.254 {2}DENY {2}class:metadata/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the test
    assert.doesNotMatch(r.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });

  test("--since leaves out what is older; a bad duration is a usage error naming the flag", () => {
    const old = `${JSON.stringify({ time: "2020-01-01T00:00:00.000Z", client: "198.18.0.2", method: "CONNECT", host: "old.test", port: 443, decision: "deny", code: "not-allowlisted", reason: "old", status: 403, up: 0, down: 0, ms: 1 })}\n`;
    writeFileSync(`${gw.auditFile}.1`, old);
    assert.match(logs("--denied", "--json").stdout, /old\.test/, "the rotated file is read");
    const recent = logs("--denied", "--json", "--since", "1h");
    assert.equal(recent.status, 0, recent.stderr);
    assert.doesNotMatch(recent.stdout, /old\.test/);
    assert.match(recent.stdout, /other\.test/);
    const bad = logs("--since", "yesterday");
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--since: expected a duration such as 30s, 5m or 1h, got "yesterday"/);
  });

  test("--follow prints a refusal as the gateway writes it, and Ctrl-C ends it cleanly", async () => {
    const child = spawn(process.execPath, [...MOAT, "--audit-log", gw.auditFile, "--follow", "--denied"], {
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const until = async (check: () => boolean, what: string) => {
      const deadline = Date.now() + 15_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`${what}; got:\n${out}`);
        await sleep(100);
      }
    };
    try {
      await until(() => out.includes("other.test"), "history first");
      assert.doesNotMatch(out, /api\.sub-not\.test/);
      assert.equal((await lab.curl("https://api.sub-not.test/")).status, 403);
      await until(() => out.includes("api.sub-not.test"), "the new refusal");
      assert.match(out, /CONNECT api\.sub-not\.test:443 {2}DENY/);
    } finally {
      child.kill("SIGINT");
    }
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    assert.equal(code, 0);
  });
});
