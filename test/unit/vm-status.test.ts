// `moat status` on the VM: docker's and systemd's answers, the gateway's metrics, the budget's
// state file and the last verify, read into one status and printed; and where the command runs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { whereToRun } from "../../src/cli/where.js";
import { parseSpec } from "../../src/spec/load.js";
import type { MoatSpec } from "../../src/spec/schema.js";
import { ago, formatVmStatus, vmProblems } from "../../src/status/format.js";
import {
  agentFromInspect,
  gatewayFromSystemd,
  parseMetrics,
  spendOf,
  type VmStatus,
} from "../../src/status/vm-status.js";
import { lastVerifyRecord } from "../../src/verify/last-result.js";

const spec = (() => {
  const r = parseSpec(`
version: 1
name: st
target: { kind: lab }
llm:
  - { name: main, kind: openai, apiKey: { env: K1 }, models: [gpt-5.4], budget: { dailyUsd: 2 } }
  - { name: spare, kind: anthropic, apiKey: { env: K2 }, models: [claude-sonnet-4-5] }
`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec as MoatSpec;
})();

const METRICS = `# HELP moat_gateway_active_tunnels CONNECT tunnels open now.
# TYPE moat_gateway_active_tunnels gauge
moat_gateway_active_tunnels 3
moat_llm_spend_today_usd{provider="main"} 0.25
moat_llm_spend_today_usd{provider="spare"} 0
moat_llm_budget_daily_usd{provider="main"} 2
moat_gateway_decisions_total{decision="deny",code="not-allowlisted"} 9
`;

describe("moat status: reading the VM", () => {
  test("docker inspect: running since its start; exited with its code; absent", () => {
    const running = JSON.stringify([
      {
        RestartCount: 1,
        State: { Status: "running", StartedAt: "2026-12-03T10:00:00Z", Health: { Status: "healthy" } },
      },
    ]);
    assert.deepEqual(agentFromInspect("moat-st-agent", running), {
      container: "moat-st-agent",
      state: "running",
      since: "2026-12-03T10:00:00Z",
      health: "healthy",
      restarts: 1,
    });
    const exited = JSON.stringify([
      { State: { Status: "exited", FinishedAt: "2026-12-03T11:00:00Z", ExitCode: 137 } },
    ]);
    assert.deepEqual(agentFromInspect("c", exited), {
      container: "c",
      state: "exited",
      since: "2026-12-03T11:00:00Z",
      exitCode: 137,
    });
    assert.deepEqual(agentFromInspect("c", "[]"), { container: "c", state: "absent" });
    assert.deepEqual(agentFromInspect("c", ""), { container: "c", state: "absent" });
  });

  test("systemctl show: active since, restarts; a failed unit has no since", () => {
    assert.deepEqual(
      gatewayFromSystemd(
        "ActiveState=active\nSubState=running\nActiveEnterTimestamp=Thu 2026-12-03 09:59:58 UTC\nNRestarts=2\n",
      ),
      { active: "active (running)", since: "2026-12-03T09:59:58Z", restarts: 2 },
    );
    assert.deepEqual(
      gatewayFromSystemd("ActiveState=failed\nSubState=failed\nActiveEnterTimestamp=\nNRestarts=0\n"),
      {
        active: "failed (failed)",
        restarts: 0,
      },
    );
    assert.deepEqual(gatewayFromSystemd(""), { active: "unknown" });
  });

  test("metrics: open tunnels, today's spend and budget per provider", () => {
    assert.deepEqual(parseMetrics(METRICS), {
      openTunnels: 3,
      spentToday: { main: 0.25, spare: 0 },
      dailyBudget: { main: 2 },
    });
  });

  test("spend: from the metrics; without them from today's state file; yesterday's file counts nothing", () => {
    assert.deepEqual(spendOf(spec, parseMetrics(METRICS), undefined, "2026-12-03"), [
      { provider: "main", todayUsd: 0.25, dailyUsd: 2, source: "metrics" },
      { provider: "spare", todayUsd: 0, source: "metrics" },
    ]);
    const file = JSON.stringify({ day: "2026-12-03", spentUsd: { main: 1.5 } });
    assert.deepEqual(
      spendOf(spec, undefined, file, "2026-12-03").map((s) => [s.todayUsd, s.source]),
      [
        [1.5, "state file"],
        [0, "state file"],
      ],
    );
    const yesterday = JSON.stringify({ day: "2026-12-02", spentUsd: { main: 1.9 } });
    assert.equal(spendOf(spec, undefined, yesterday, "2026-12-03")[0]?.todayUsd, 0);
  });
});

const NOW = new Date("2026-12-03T12:00:00Z");
const healthy: VmStatus = {
  name: "st",
  day: "2026-12-03",
  agent: { container: "moat-st-agent", state: "running", since: "2026-12-03T10:00:00Z" },
  gateway: {
    unit: "moat-gateway.service",
    active: "active (running)",
    since: "2026-12-03T09:59:58Z",
    openTunnels: 3,
    metrics: "ok",
  },
  spend: [
    { provider: "main", todayUsd: 0.25, dailyUsd: 2, source: "metrics" },
    { provider: "spare", todayUsd: 0, source: "metrics" },
  ],
  lastVerify: lastVerifyRecord(
    [],
    { total: 40, passed: 38, failed: 0, skipped: 2, ok: true, durationMs: 9000 },
    new Date("2026-12-03T11:55:00Z"),
  ),
};

describe("moat status: the text", () => {
  test("a healthy VM", () => {
    assert.equal(
      formatVmStatus(healthy, NOW),
      [
        "st on this VM",
        "  agent    moat-st-agent running since 2026-12-03T10:00:00Z (2 h ago)",
        "  gateway  moat-gateway.service active (running) since 2026-12-03T09:59:58Z (2 h ago), 3 open tunnels",
        "  spend    main: $0.2500 of $2.00 today (2026-12-03 UTC)",
        "  spend    spare: $0.0000 (no budget) today (2026-12-03 UTC)",
        "  verify   perimeter holds at 2026-12-03T11:55:00Z (5 min ago): 38 passed, 0 failed, 2 skipped",
        "",
      ].join("\n"),
    );
    assert.deepEqual(vmProblems(healthy), []);
  });

  test("a stopped agent, a failed gateway, a spent budget and a failed verify are each said", () => {
    const bad: VmStatus = {
      ...healthy,
      agent: { container: "moat-st-agent", state: "exited", since: "2026-12-03T11:00:00Z", exitCode: 137 },
      gateway: {
        unit: "moat-gateway.service",
        active: "failed (failed)",
        metrics: "no metrics on 127.0.0.1:9464 (fetch failed)",
      },
      spend: [{ provider: "main", todayUsd: 2.01, dailyUsd: 2, source: "state file" }],
      lastVerify: lastVerifyRecord(
        [
          {
            id: "net.metadata",
            title: "",
            required: true,
            status: "fail",
            detail: "169.254.169.254 answered",
            fix: "",
            durationMs: 1,
          },
        ],
        { total: 40, passed: 39, failed: 1, skipped: 0, ok: false, durationMs: 9000 },
        new Date("2026-12-01T12:00:00Z"),
        ["net.metadata"],
      ),
    };
    const text = formatVmStatus(bad, NOW);
    assert.match(
      text,
      /agent {4}moat-st-agent exited since 2026-12-03T11:00:00Z \(60 min ago\) \(exit 137\)/,
    );
    assert.match(text, /gateway {2}moat-gateway\.service failed \(failed\), no metrics on 127\.0\.0\.1:9464/);
    assert.match(
      text,
      /main: \$2\.0100 of \$2\.00 today .* spent: 429 until midnight UTC \(from the state file/,
    );
    assert.match(text, /perimeter NOT verified at 2026-12-01T12:00:00Z \(2 d ago\).*\(only net\.metadata\)/);
    assert.match(text, /✗ net\.metadata: 169\.254\.169\.254 answered\n/);
    assert.deepEqual(vmProblems(bad), [
      "agent container moat-st-agent is exited",
      "moat-gateway.service is failed (failed)",
      "the last moat verify failed",
    ]);
  });

  test("never verified; and values from docker are printed escaped", () => {
    const text = formatVmStatus(
      {
        ...healthy,
        lastVerify: null,
        agent: { container: "moat-st-agent", state: "absent", problem: "\x1b[2Jpermission denied" },
      },
      NOW,
    );
    assert.match(text, /verify {3}never run here \(sudo moat verify\)/);
    assert.match(text, /absent \(\\x1b\[2Jpermission denied\)/);
    assert.ok(!text.includes("\x1b"));
  });

  test("ago", () => {
    assert.equal(ago("2026-12-03T11:59:30Z", NOW), " (30 s ago)");
    assert.equal(ago("2026-12-04T00:00:00Z", NOW), " (in the future)");
    assert.equal(ago("nonsense", NOW), "");
  });
});

describe("moat status and moat logs: where they run", () => {
  const table: [string, Parameters<typeof whereToRun>[0], string][] = [
    ["on a VM", { local: false, deployedFromHere: false, onMoatVm: true }, "vm"],
    ["beside a deployed moat.yaml", { local: false, deployedFromHere: true, onMoatVm: false }, "deployed"],
    [
      "a deploy state wins over being a VM",
      { local: false, deployedFromHere: true, onMoatVm: true },
      "deployed",
    ],
    ["--local wins over a deploy state", { local: true, deployedFromHere: true, onMoatVm: false }, "vm"],
    [
      "neither: deploy's own 'not deployed from here'",
      { local: false, deployedFromHere: false, onMoatVm: false },
      "deployed",
    ],
  ];
  for (const [name, facts, where] of table) test(name, () => assert.equal(whereToRun(facts), where));
});
