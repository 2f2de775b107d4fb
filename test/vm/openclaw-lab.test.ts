// The real OpenClaw inside the perimeter: the lab image (src/lab/openclaw-image.ts, built from the
// pinned npm packages, no registry) imported by `moat host apply --import-image` into a converged
// Debian 13 VM (test/support/verify-lab.ts) and run under the rendered Compose file unchanged.
// OpenClaw itself accepts the rendered config inside its container, answers /healthz, keeps its
// state on the profile's volumes, and `moat verify` passes every required check on it. Needs an
// npm prefix holding openclaw and Node 24 (MOAT_OPENCLAW_PREFIX, see scripts/openclaw-validator.sh).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildOpenclawImage, LAB_OPENCLAW_IMAGE, NODE_VERSION } from "../../src/lab/openclaw-image.js";
import { OPENCLAW_VERSION } from "../../src/spec/schema.js";
import { AS_AGENT, VM_NODE, VM_PACKAGE, VM_SPEC } from "../support/host-lab.js";
import { needsRoot } from "../support/root.js";
import { ALLOWED_DOMAIN, TELEGRAM_OWNER, TELEGRAM_TOKEN_FILE, VerifyLab } from "../support/verify-lab.js";

const prefix = process.env.MOAT_OPENCLAW_PREFIX ?? "";
const skip =
  needsRoot("boots an nspawn VM in a network namespace") ||
  (!prefix || !existsSync(join(prefix, "node_modules/openclaw/package.json"))
    ? "set MOAT_OPENCLAW_PREFIX to an npm prefix with openclaw and Node 24 (scripts/openclaw-validator.sh)"
    : false);

const PORT = 18789;
const CONTAINER = "moat-ocl-agent";
const LLM_KEY_FILE = "/etc/moat-secrets/llm-key";
const REAL_LLM_KEY = `sk-MOATTEST-real-llm-key-${"5e1f".repeat(6)}`;
const SPEC = `version: 1
name: ocl
target: { kind: lab }
agent: { profile: openclaw, image: "${LAB_OPENCLAW_IMAGE}", port: ${PORT} }
access: { sshUsers: [root] }
messengers:
  telegram: { botToken: { file: ${TELEGRAM_TOKEN_FILE} }, allowFrom: [${TELEGRAM_OWNER}] }
llm:
  - { name: main, kind: openai-compatible, baseUrl: "https://llm.${ALLOWED_DOMAIN}/v1", apiKey: { file: ${LLM_KEY_FILE} }, models: [fake-model] }
egress:
  allow: [${ALLOWED_DOMAIN}]
`;

interface Report {
  checks: { id: string; status: string; detail: string }[];
  summary: { ok: boolean; durationMs: number };
}

describe(`openclaw@${OPENCLAW_VERSION} in the lab image, inside the perimeter`, {
  skip,
  concurrency: false,
  timeout: 900_000,
}, () => {
  let lab: VerifyLab;
  const docker = (args: string[], input?: string) =>
    lab.vm.exec([...AS_AGENT, "docker", ...args], { timeoutMs: 120_000, ...(input && { input }) });
  const inContainer = (script: string, input?: string) =>
    docker(["exec", ...(input ? ["-i"] : []), CONTAINER, "sh", "-c", script], input);
  const validate = (configPath: string) => {
    const r = inContainer(`OPENCLAW_CONFIG_PATH=${configPath} openclaw config validate --json`);
    return { code: r.code, result: JSON.parse(r.stdout.slice(r.stdout.indexOf("{")) || "{}"), r };
  };

  before(async () => {
    const image = buildOpenclawImage({ prefix, log: (l) => console.log(`# image: ${l}`) });
    console.log(
      `# image build (openclaw ${OPENCLAW_VERSION}, node ${NODE_VERSION}): ${image.durationMs} ms, ${image.cached ? "cached" : "cold"}`,
    );
    lab = new VerifyLab("ocl", image.tar);
    await lab.up(SPEC);
    lab.vm.must(["sh", "-c", `umask 077 && cat > ${LLM_KEY_FILE}`], { input: `${REAL_LLM_KEY}\n` });
    const { code, report } = lab.apply();
    assert.equal(code, 0, JSON.stringify(report.steps.map((s) => [s.step, s.status, s.error])));
    const agent = report.steps.find((s) => s.step === "agent");
    console.log(
      `# converge with the OpenClaw image: ${report.durationMs} ms (agent step ${agent?.durationMs} ms)`,
    );
  });
  after(async () => {
    await lab?.down();
  });

  it("runs the imported image with the config of the official one", () => {
    const r = docker(["image", "inspect", LAB_OPENCLAW_IMAGE, "--format", "{{json .Config}}"]);
    const config = JSON.parse(r.stdout);
    assert.equal(config.User, "1000:1000");
    assert.equal(config.WorkingDir, "/app");
    assert.deepEqual(config.Cmd, ["node", "openclaw.mjs", "gateway"]);
    assert.match(inContainer("node --version").stdout, new RegExp(`^v${NODE_VERSION}`));
  });

  it("is healthy: Docker's health check and /healthz on the published loopback port", () => {
    const health = docker(["inspect", CONTAINER, "--format", "{{.State.Health.Status}}"]).stdout.trim();
    assert.equal(health, "healthy");
    const probe = `const s=require("node:net").connect(${PORT},"127.0.0.1",()=>s.end("GET /healthz HTTP/1.0\\r\\n\\r\\n"));let b="";s.on("data",d=>b+=d);s.on("end",()=>process.stdout.write(b.split("\\r\\n")[0]))`;
    assert.match(lab.vm.must([VM_NODE, "-e", probe]), /^HTTP\/1\.1 200/);
  });

  // Before verify runs (its probes fill the audit log with refused spellings of its own).
  it("at start-up asks the gateway for no model catalog (switched off); what else it asks for is refused", () => {
    const audit = lab.vm
      .must(["cat", "/var/log/moat/gateway-audit.log"])
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { host?: string; decision?: string });
    const denied = [...new Set(audit.filter((e) => e.decision === "deny").map((e) => e.host))].sort();
    console.log(`# hosts OpenClaw asked for and the gateway refused: ${denied.join(", ") || "none"}`);
    assert.ok(!denied.includes("catalog.openclaw.ai"), "models.catalogRefresh.enabled: false is honoured");
  });

  it("OpenClaw itself accepts the rendered config inside its container", () => {
    const { code, result, r } = validate("/home/node/.openclaw/openclaw.json");
    assert.equal(code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(result.valid, true);
    assert.deepEqual(result.warnings, []);
  });

  it("negative control: the same validate inside the container refuses a config OpenClaw does not know", () => {
    const config = JSON.parse(lab.vm.must(["cat", "/etc/moat/openclaw/openclaw.json"]));
    config.gateway.bindAddress = "0.0.0.0";
    const write = inContainer("cat > /tmp/refused.json", JSON.stringify(config));
    assert.equal(write.code, 0, write.stderr);
    const { code, result } = validate("/tmp/refused.json");
    assert.notEqual(code, 0);
    assert.equal(result.valid, false);
    assert.match(JSON.stringify(result.issues), /bindAddress/);
  });

  it("runs as node without capabilities on a read-only root, its state on the profile's volumes", () => {
    // OpenClaw renames its process (argv) to openclaw-gateway.
    const gateway = inContainer(
      "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline | grep -q '^openclaw-gateway' && echo $(basename $p); done | head -1",
    ).stdout.trim();
    assert.ok(gateway, "the openclaw-gateway process runs");
    const status = inContainer(`cat /proc/${gateway}/status`).stdout;
    assert.match(status, /^Uid:\s+1000\s/m);
    assert.match(status, /^CapEff:\s+0000000000000000$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    assert.match(inContainer("touch /app/x 2>&1 || echo refused").stdout, /Read-only file system/);
    // The config is mounted read-only inside the writable state volume; OpenClaw wrote beside it.
    assert.match(
      inContainer("{ echo x >> /home/node/.openclaw/openclaw.json; } 2>/dev/null || echo refused").stdout,
      /refused/,
    );
    const state = inContainer("ls -A /home/node/.openclaw").stdout.split("\n").filter(Boolean);
    assert.ok(
      state.some((e) => e !== "openclaw.json"),
      `OpenClaw keeps state in its volume: ${state.join(" ")}`,
    );
    const mounts = inContainer("cat /proc/self/mounts").stdout;
    assert.match(
      mounts,
      /^\S+ \/home\/node\/\.openclaw\/openclaw\.json \S+ ro,/m,
      "config mounted read-only",
    );
    assert.match(mounts, /^\S+ \/home\/node\/\.openclaw \S+ rw,/m, "state on its own writable volume");
    for (const tmpfs of ["/tmp", "/home/node/.cache"])
      assert.match(mounts, new RegExp(`^tmpfs ${tmpfs} tmpfs \\S*noexec`, "m"), tmpfs);
  });

  it("moat verify passes every required check with OpenClaw as the agent", () => {
    const r = lab.vm.exec([VM_NODE, `${VM_PACKAGE}/bin/moat.js`, "verify", "-c", VM_SPEC, "--json"], {
      timeoutMs: 60_000,
    });
    const report = JSON.parse(r.stdout) as Report;
    const bad = report.checks.filter((c) => c.status === "fail");
    assert.deepEqual(bad, [], JSON.stringify(bad, null, 2));
    assert.equal(r.code, 0);
    const skipped = report.checks.filter((c) => c.status === "skip").map((c) => c.id);
    assert.deepEqual(skipped.sort(), ["container.limits", "host.tailscale"]);
    assert.equal(report.checks.find((c) => c.id === "secrets.agent")?.status, "pass");
  });

  it("holds no real secret in its container", () => {
    const env = docker(["inspect", CONTAINER, "--format", "{{json .Config.Env}}"]).stdout;
    assert.doesNotMatch(env, new RegExp(REAL_LLM_KEY));
    assert.match(env, /MOAT_LLM_MAIN_API_KEY=moat-placeholder-llm-main/);
    // The key goes in on stdin, so not even this probe puts it on a command line in the container.
    const everywhere = inContainer(
      "grep -rlF -f /dev/stdin /home/node /tmp /proc/[0-9]*/environ 2>/dev/null | head -3",
      REAL_LLM_KEY,
    );
    assert.equal(everywhere.stdout.trim(), "");
  });

  // RSS, not `docker stats`: a rootless daemon on cgroup v1 has no per-container memory cgroup.
  it("measures OpenClaw's and the gateway's memory", () => {
    const init = Number(docker(["inspect", CONTAINER, "--format", "{{.State.Pid}}"]).stdout.trim());
    const procs = lab.vm
      .must(["ps", "-eo", "pid=,ppid=,rss=,uid="])
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/));
    const inContainerTree = new Set([init]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, ppid] of procs)
        if (inContainerTree.has(Number(ppid)) && !inContainerTree.has(Number(pid))) {
          inContainerTree.add(Number(pid));
          grew = true;
        }
    }
    const rssMiB = (rows: string[][]) => Math.round(rows.reduce((t, r) => t + Number(r[2]), 0) / 1024);
    const openclaw = rssMiB(procs.filter((r) => inContainerTree.has(Number(r[0]))));
    const gatewayUid = lab.vm.must(["id", "-u", "moat-gateway"]).trim();
    const gateway = rssMiB(procs.filter((r) => r[3] === gatewayUid));
    console.log(`# memory (RSS): OpenClaw container ${openclaw} MiB; moat gateway ${gateway} MiB`);
    assert.ok(openclaw > 100 && gateway > 10);
  });
});
