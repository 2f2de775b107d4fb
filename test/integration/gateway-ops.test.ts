// Operating the gateway: report mode, allowCidrs, SIGHUP reload under open tunnels, SIGTERM
// drain within its bound, the metrics endpoint, and `moat gateway denials` on the audit log.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  GatewayLab,
  IMDS,
  labYaml,
  METRICS,
  OTHER4,
  PRIVATE,
  PUBLIC4,
  REPO,
  servedBy,
} from "../support/gateway-lab.js";
import { needsRoot } from "../support/root.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("operating the gateway", {
  skip: needsRoot("network namespaces (ip netns)"),
  concurrency: false,
}, () => {
  const lab = new GatewayLab("mgw-ops");
  before(() => lab.setup());
  after(() => lab.cleanup());

  test("report mode: unlisted names and literals pass and are logged; address classes still refused", async () => {
    const gw = await lab.startGateway(labYaml("  mode: report"), { tag: "report" });
    try {
      const unlisted = await lab.curl("https://other.test/");
      assert.equal(servedBy(unlisted.body), OTHER4);
      const literal = await lab.curl(`http://${PUBLIC4}/`);
      assert.equal(servedBy(literal.body), PUBLIC4);
      for (const url of [
        "https://metadata.test/",
        "https://mixed.test/",
        `http://${IMDS}/`,
        "http://private.test/",
        "https://localhost/",
      ]) {
        assert.equal((await lab.curl(url)).status, 403, url);
      }
      const listed = await lab.curl("https://public.test/");
      assert.equal(listed.status, 200);
      await sleep(100);
      const audit = gw.audit();
      assert.equal(audit.find((l) => l.host === "other.test")?.decision, "report");
      assert.equal(audit.find((l) => l.host === PUBLIC4)?.decision, "report");
      assert.equal(audit.find((l) => l.host === "public.test")?.decision, "allow");
      assert.equal(audit.find((l) => l.host === "metadata.test")?.decision, "deny");
      assert.deepEqual(
        lab.hits().filter((h) => h.hit === IMDS),
        [],
      );

      // The owner's view: what would enforce mode have refused, and what to add.
      const out = execFileSync(
        "node",
        [
          "--import",
          "tsx",
          "src/cli/main.ts",
          "gateway",
          "denials",
          "--audit-log",
          gw.auditFile,
          "--since",
          "1h",
        ],
        {
          cwd: REPO,
          encoding: "utf8",
          env: { ...process.env, NO_COLOR: "1" },
        },
      );
      assert.match(out, /other\.test\s+443\s+report-unlisted \(passed in report mode\)/);
      assert.match(out, /metadata\.test\s+443\s+class:metadata/);
      assert.match(out, /egress:\n {2}allow:\n {4}- other\.test\n/);
      assert.match(out, / {2}allowCidrs:\n {4}- 93\.184\.215\.14\/32/);
      assert.doesNotMatch(out, /- metadata\.test/);
    } finally {
      await gw.stop();
    }
  });

  test("allowCidrs opens a private range, never metadata", async () => {
    const gw = await lab.startGateway(labYaml("  allowCidrs: [10.9.0.0/16]"), { tag: "cidrs" });
    try {
      assert.equal(servedBy((await lab.curl("http://private.test/")).body), PRIVATE);
      assert.equal(servedBy((await lab.curl(`http://${PRIVATE}/`)).body), PRIVATE);
      assert.equal((await lab.curl("http://metadata.test/")).status, 403);
      assert.equal((await lab.curl("http://10.8.0.1/")).status, 403);
    } finally {
      await gw.stop();
    }
  });

  test("SIGHUP swaps the allowlist without dropping tunnels; a broken file keeps the old one", async () => {
    const gw = await lab.startGateway(labYaml(), { tag: "hup" });
    const tunnels = lab.tunnels("public.test:8007", 3);
    try {
      await tunnels.watched.waitFor(() => tunnels.opened() === 3, "tunnels open");
      tunnels.send("one");
      await tunnels.watched.waitFor(() => tunnels.echoes("one") === 3, "echo one");
      assert.equal((await lab.curl("https://other.test/")).status, 403);

      // New allowlist: other.test in, public.test out.
      writeFileSync(gw.yamlFile, labYaml().replace("public.test, ", "other.test, "));
      gw.watched.proc.kill("SIGHUP");
      await gw.watched.waitFor(() => gw.watched.stderr.includes("reloaded"), "reload");
      tunnels.send("two");
      await tunnels.watched.waitFor(() => tunnels.echoes("two") === 3, "echo two after reload");
      assert.equal(tunnels.closed(), 0);
      assert.equal(servedBy((await lab.curl("https://other.test/")).body), OTHER4);
      assert.equal((await lab.curl("https://public.test/")).status, 403);

      writeFileSync(gw.yamlFile, "version: 1\nname: [broken\n");
      gw.watched.proc.kill("SIGHUP");
      await gw.watched.waitFor(() => gw.watched.stderr.includes("reload refused"), "refused reload");
      assert.equal(servedBy((await lab.curl("https://other.test/")).body), OTHER4);
      tunnels.send("three");
      await tunnels.watched.waitFor(() => tunnels.echoes("three") === 3, "echo three");
    } finally {
      tunnels.exit();
      await gw.stop();
    }
  });

  test("metrics on the gateway's loopback: decisions, tunnels, bytes, latency; not reachable by the agent", async () => {
    const gw = await lab.startGateway(labYaml(), { tag: "metrics" });
    const tunnels = lab.tunnels("public.test:8007", 2);
    try {
      await tunnels.watched.waitFor(() => tunnels.opened() === 2, "tunnels open");
      await lab.curl("https://metadata.test/");
      await lab.curl("https://public.test/big?bytes=300000", ["-o", "/dev/null"]);
      const r = await lab.exec("curl", ["-sS", `http://${METRICS}/metrics`], { ns: lab.gw });
      const text = r.stdout;
      assert.match(text, /moat_gateway_decisions_total\{decision="deny",code="class:metadata"\} 1/);
      assert.match(text, /moat_gateway_decisions_total\{decision="allow",code="allowlisted"\} 3/);
      assert.match(text, /moat_gateway_active_tunnels 2/);
      const down = Number(/moat_gateway_bytes_total\{direction="down"\} (\d+)/.exec(text)?.[1]);
      assert.ok(down > 300_000, `bytes down ${down}`);
      assert.match(text, /moat_gateway_setup_seconds_bucket\{le="0.01",kind="tunnel"\} \d+/);
      assert.match(text, /process_resident_memory_bytes/);
      const fromAgent = await lab.exec("curl", ["-sS", "--max-time", "3", `http://198.18.0.1:9464/metrics`]);
      assert.notEqual(fromAgent.code, 0, "the agent reached the metrics port");
    } finally {
      tunnels.exit();
      await gw.stop();
    }
  });

  test("SIGTERM: no new connections, open tunnels keep working, then are cut at the bound", async () => {
    const gw = await lab.startGateway(labYaml(), { tag: "drain" });
    const tunnels = lab.tunnels("public.test:8007", 2);
    await tunnels.watched.waitFor(() => tunnels.opened() === 2, "tunnels open");
    const started = Date.now();
    const exited = gw.stop("SIGTERM");
    await gw.watched.waitFor(() => gw.watched.stderr.includes("draining"), "draining");
    tunnels.send("during-drain");
    await tunnels.watched.waitFor(() => tunnels.echoes("during-drain") === 2, "echo during drain");
    const refused = await lab.curl("https://public.test/");
    assert.notEqual(refused.status, 200, "a new request was served while draining");
    const code = await exited;
    const took = Date.now() - started;
    assert.equal(code, 0);
    assert.ok(took >= 2500 && took < 6000, `drain took ${took} ms with a 3 s bound`);
    await tunnels.watched.waitFor(() => tunnels.closed() === 2, "tunnels cut");
    const lines = gw.audit().filter((l) => l.method === "CONNECT" && l.port === 8007 && !l.phase);
    assert.equal(lines.length, 2, "each drained tunnel is in the audit log");
    assert.ok(lines.every((l) => (l.up as number) > 0 && (l.down as number) > 0));
  });

  test("SIGTERM with nothing open exits at once", async () => {
    const gw = await lab.startGateway(labYaml(), { tag: "quick" });
    const started = Date.now();
    assert.equal(await gw.stop("SIGTERM"), 0);
    assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  });
});
