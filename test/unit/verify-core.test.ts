import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ADDRESS_TABLE } from "../../src/spec/addresses.js";
import { moatSpec } from "../../src/spec/schema.js";
import { judgeSeccomp, judgeTmpfs, limits } from "../../src/verify/checks/container.js";
import { unexpectedListeners } from "../../src/verify/checks/host.js";
import { CHECKS } from "../../src/verify/checks/index.js";
import { findLeaks } from "../../src/verify/checks/secrets.js";
import { formatJson, formatJunit, formatTable } from "../../src/verify/format.js";
import { parseEnvFile, parseListeners } from "../../src/verify/observe.js";
import { runChecks, summarise } from "../../src/verify/run.js";
import {
  hostPortTargets,
  judgeRefused,
  representative,
  resolverAddresses,
  tableTargets,
  withoutOwnPort,
} from "../../src/verify/targets.js";
import type { Check, ContainerInspect, Observations } from "../../src/verify/types.js";

const spec = moatSpec.parse({
  version: 1,
  name: "t",
  target: { kind: "lab" },
  agent: { profile: "custom", image: "x/y:1", writablePaths: ["/tmp"] },
});
const noObserve = {} as Observations;
const check = (id: string, required: boolean, run: Check["run"]): Check => ({ id, title: id, required, run });

describe("verify: running checks", () => {
  it("a thrown probe is a failure with its message, and the others still report", async () => {
    const results = await runChecks(
      [
        check("a", true, async () => ({ status: "pass", detail: "ok" })),
        check("b", true, async () => {
          throw new Error("boom");
        }),
      ],
      { spec, observe: noObserve },
    );
    assert.deepEqual(
      results.map((r) => [r.id, r.status]),
      [
        ["a", "pass"],
        ["b", "fail"],
      ],
    );
    assert.match(results[1]?.detail ?? "", /boom/);
  });

  it("exit is ok unless a required check fails; skips and advisory failures do not count", async () => {
    const results = await runChecks(
      [
        check("s", true, async () => ({ status: "skip", detail: "n/a" })),
        check("adv", false, async () => ({ status: "fail", detail: "x", fix: "y" })),
      ],
      { spec, observe: noObserve },
    );
    assert.equal(summarise(results, 5).ok, true);
    const worse = await runChecks(
      [check("r", true, async () => ({ status: "fail", detail: "x", fix: "y" }))],
      {
        spec,
        observe: noObserve,
      },
    );
    assert.equal(summarise(worse, 5).ok, false);
  });

  it("check ids are unique", () => {
    assert.equal(new Set(CHECKS.map((c) => c.id)).size, CHECKS.length);
  });
});

describe("verify: output formats", () => {
  const results = [
    {
      id: "a.b",
      title: "A",
      required: true,
      status: "pass" as const,
      detail: "fine",
      fix: "",
      durationMs: 3,
    },
    {
      id: "c",
      title: "C <&>",
      required: true,
      status: "fail" as const,
      detail: 'bad "x"',
      fix: "do y",
      durationMs: 4,
    },
    { id: "d", title: "D", required: true, status: "skip" as const, detail: "why", fix: "", durationMs: 0 },
  ];
  const summary = summarise(results, 1234);

  it("JSON has the issue's shape", () => {
    const j = JSON.parse(formatJson(results, summary));
    assert.deepEqual(Object.keys(j.checks[0]).slice(0, 5), ["id", "title", "status", "detail", "fix"]);
    assert.deepEqual(j.summary, { total: 3, passed: 1, failed: 1, skipped: 1, ok: false, durationMs: 1234 });
  });

  it("the table shows a fix line for each failure only", () => {
    const t = formatTable(results, summary);
    assert.equal(t.match(/fix:/g)?.length, 1);
    assert.match(t, /fix: do y/);
    assert.match(t, /1 passed, 1 failed, 1 skipped in 1\.2 s/);
  });

  it("JUnit escapes XML and counts failures and skips", () => {
    const x = formatJunit(results, summary);
    assert.match(x, /tests="3" failures="1" skipped="1"/);
    assert.match(x, /C &lt;&amp;&gt;/);
    assert.match(x, /<failure message="bad &quot;x&quot;">fix: do y<\/failure>/);
  });
});

describe("verify: targets and judgements", () => {
  it("probes one address inside every row of the address table", () => {
    assert.equal(tableTargets().length, ADDRESS_TABLE.length);
    assert.equal(representative("169.254.169.254/32"), "169.254.169.254");
    assert.equal(representative("10.0.0.0/8"), "10.0.0.1");
    assert.equal(representative("fc00::/7"), "fc00::1");
  });

  it("host ports: wildcard listeners reached on loopback, the gateway's own port left out", () => {
    const ls = parseListeners(
      [
        'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=74,fd=6)) ino:1',
        'tcp LISTEN 0 511 198.18.0.1:3128 0.0.0.0:* users:(("node",pid=9,fd=19)) uid:2001 ino:2',
        'tcp LISTEN 0 128 [::]:22 [::]:* users:(("sshd",pid=74,fd=7)) ino:3',
        'udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=5,fd=1)) uid:991 ino:4',
      ].join("\n"),
    );
    assert.equal(ls[1]?.uid, 2001);
    assert.equal(ls[3]?.address, "127.0.0.53%lo");
    const t = hostPortTargets(spec, ls).map((x) => `${x.host} ${x.port}`);
    assert.deepEqual(t, ["198.18.0.1 22", "127.0.0.1 22", "::1 22"]);
  });

  it("inside the container, only the agent's own port on its own loopback is left out", () => {
    const own = spec.agent.port;
    const targets = [
      { kind: "tcp" as const, host: "127.0.0.1", port: own },
      { kind: "tcp" as const, host: "::1", port: own },
      { kind: "tcp" as const, host: "127.0.0.1", port: 22 },
      { kind: "tcp" as const, host: "198.18.0.1", port: own },
    ];
    assert.deepEqual(
      withoutOwnPort(spec, targets).map((x) => `${x.host} ${x.port}`),
      ["127.0.0.1 22", `198.18.0.1 ${own}`],
    );
  });

  it("refused means nothing opened or answered; the reached ones are named", () => {
    const t = { kind: "tcp" as const, host: "169.254.169.254", port: 80 };
    assert.equal(judgeRefused([{ target: t, outcome: "ECONNREFUSED" }]).ok, true);
    const bad = judgeRefused([{ target: t, outcome: "open" }]);
    assert.equal(bad.ok, false);
    assert.match(bad.detail, /169\.254\.169\.254:80/);
    assert.equal(judgeRefused([{ target: { ...t, kind: "dns" }, outcome: "answered" }]).ok, false);
  });

  it("resolvers: the configured ones plus the cloud's and well-known ones", () => {
    const r = resolverAddresses("# x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n");
    assert.deepEqual(r.slice(0, 2), ["10.0.0.2", "fe80::1"]);
    assert.ok(r.includes("169.254.169.254"));
  });

  it("listeners: sshd and the gateway expected; anything else public is named", () => {
    const ls = parseListeners(
      [
        'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=74,fd=6)) ino:1',
        'tcp LISTEN 0 511 198.18.0.1:3128 0.0.0.0:* users:(("node",pid=9,fd=19)) uid:2001 ino:2',
        'tcp LISTEN 0 511 0.0.0.0:8080 0.0.0.0:* users:(("rootlesskit",pid=9,fd=19)) uid:2000 ino:2',
        'tcp LISTEN 0 511 0.0.0.0:6379 0.0.0.0:* users:(("redis-server",pid=9,fd=19)) uid:100 ino:2',
      ].join("\n"),
    );
    assert.deepEqual(unexpectedListeners(spec, ls, [8080]), ["tcp 0.0.0.0:6379 (redis-server)"]);
  });

  it("secrets: found by hash in env values and by value in text, reported by field only", () => {
    const secrets = [{ field: "llm[0].apiKey", value: "sk-real" }];
    assert.deepEqual(findLeaks(secrets, [{ where: "Env", value: "sk-real" }], []), ["llm[0].apiKey in Env"]);
    assert.deepEqual(findLeaks(secrets, [], [["logs", "token=sk-real!"]]), ["llm[0].apiKey in logs"]);
    assert.deepEqual(findLeaks(secrets, [{ where: "Env", value: "moat-placeholder" }], [["f", "x"]]), []);
    assert.deepEqual(parseEnvFile("A=1\n# c\nB=x=y\n"), { A: "1", B: "x=y" });
  });
});

// Evaluation of the container checks whose live negative control cannot show every branch here
// (test/vm/verify-controls.test.ts breaks each live where this machine allows).
describe("verify: container posture judgements", () => {
  it("seccomp: mode 2 inherited from the host's own filter, with none of the container's, fails", () => {
    const own = { Seccomp: "2", Seccomp_filters: "6" };
    assert.equal(judgeSeccomp(own, 5, true, true).status, "pass");
    const inherited = judgeSeccomp({ Seccomp: "2", Seccomp_filters: "5" }, 5, true, false);
    assert.equal(inherited.status, "fail");
    assert.match(inherited.detail, /inherited/);
    assert.equal(judgeSeccomp({ Seccomp: "0", Seccomp_filters: "0" }, 0, false, false).status, "fail");
    // Docker's default profile is fine when the spec asks for it, not when it asks for Moat's.
    assert.equal(judgeSeccomp({ Seccomp: "2", Seccomp_filters: "1" }, 0, false, false).status, "pass");
    assert.match(judgeSeccomp({ Seccomp: "2", Seccomp_filters: "1" }, 0, true, false).detail, /not Moat's/);
    // Where the stack cannot be counted, the mode alone decides.
    assert.equal(judgeSeccomp({ Seccomp: "2" }, null, false, false).status, "pass");
  });

  it("tmpfs: a mount without noexec fails even when the agent cannot write to it", () => {
    assert.equal(judgeTmpfs(["/tmp|rw,nosuid,nodev,noexec|written|"]).status, "pass");
    assert.equal(judgeTmpfs(["/tmp|rw,noexec,mode=755|unwritable|"]).status, "pass");
    const unwritable = judgeTmpfs(["/tmp|rw,nosuid,nodev|unwritable|"]);
    assert.equal(unwritable.status, "fail");
    assert.match(unwritable.detail, /without noexec/);
    assert.match(judgeTmpfs(["/tmp|rw|written|EXECUTED"]).detail, /ran/);
    assert.match(judgeTmpfs(["/data||unwritable|"]).detail, /not a mount/);
  });

  // container.limits skips on cgroup v1 (this machine); its enforced half is judged here.
  describe("limits", () => {
    const wantMem = 2 * 1024 * 1024 * 1024;
    const running = (HostConfig: ContainerInspect["HostConfig"]): ContainerInspect => ({
      State: { Running: true },
      HostConfig,
    });
    const observing = (c: ContainerInspect, inside: string): Observations => ({
      container: async () => c,
      inContainer: async () => ({ code: 0, stdout: inside, stderr: "" }),
      listeners: async () => [],
      secrets: async () => [],
    });
    const judge = (c: ContainerInspect, inside: string) =>
      limits.run({
        spec: { ...spec, agent: { ...spec.agent, memory: "2g" } },
        observe: observing(c, inside),
      });
    const configured = running({ Memory: wantMem, PidsLimit: spec.hardening.pids });

    it("passes when cgroup v2 enforces what is configured", async () => {
      assert.equal((await judge(configured, `${wantMem}\n${spec.hardening.pids}\n`)).status, "pass");
    });
    it("negative control: limits configured but not enforced inside fail", async () => {
      const v = await judge(configured, "max\nmax\n");
      assert.equal(v.status, "fail");
      assert.match(v.detail, /memory\.max max, pids\.max max/);
    });
    it("negative control: limits absent from the container's configuration fail", async () => {
      assert.equal((await judge(running({ Memory: 0, PidsLimit: null }), "")).status, "fail");
    });
    it("skips only when cgroup v1 cannot enforce them", async () => {
      assert.equal((await judge(configured, "NO-CGROUP2\n")).status, "skip");
    });
  });
});
