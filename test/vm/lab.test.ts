// The user's path end to end: `moat lab up` builds the simulated cloud VM and converges it; `moat
// verify` inside is green; each control broken in turn fails exactly the checks that control owns
// and passes again once restored; `moat lab down` leaves no namespace, process or disk behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { labEvents, labVm, readState, stateDir, VM_NODE, VM_PACKAGE, VM_SPEC } from "../../src/lab/lab.js";
import { busyboxRootfsTar } from "../../src/lab/package.js";
import type { LabVm } from "../../src/lab/vm.js";
import { labNamespaces } from "../../src/lab/world.js";
import { AS_AGENT, labSpec } from "../support/host-lab.js";
import { labCli } from "../support/lab-cli.js";
import { needsRoot } from "../support/root.js";

const NAME = "e2e";
const COMPOSE = "/etc/moat/compose/compose.yaml";
const BROKEN = "/tmp/moat-broken-compose.yaml";
const TOKEN_FILE = "/etc/moat-secrets/telegram-bot-token";
const SPEC = labSpec(
  NAME,
  `messengers:
  telegram:
    botToken: { file: ${TOKEN_FILE} }
    allowFrom: [111111]
llm:
  - name: main
    kind: openai
    apiKey: { env: OPENAI_API_KEY }
    models: ["gpt-5.4"]
egress:
  allow: [example.org]
`,
);

interface Report {
  checks: { id: string; status: string; detail: string; fix: string }[];
  summary: { ok: boolean; durationMs: number };
}

describe("moat lab: up, verify, break each control, down", {
  skip: needsRoot("boots an nspawn VM in a network namespace"),
  concurrency: false,
  timeout: 600_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "moat-lab-e2e-"));
  const moat = labCli(dir);
  let vm: LabVm;
  const lab = {
    get vm() {
      return vm;
    },
    apply: (args: string[]) =>
      vm.must([VM_NODE, `${VM_PACKAGE}/bin/moat.js`, "host", "apply", "-c", VM_SPEC, ...args]),
  };
  // Through the CLI, as a user runs it: `moat lab verify --json` runs verify inside the VM.
  const verify = (): { code: number; report: Report } => {
    const r = moat("lab", "verify", "--json");
    try {
      return { code: r.status ?? -1, report: JSON.parse(r.stdout) };
    } catch {
      throw new Error(`verify printed no report (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
  };
  const realToken = () => readFileSync(join(vm.root, TOKEN_FILE), "utf8").trim();
  const failing = (report: Report) =>
    report.checks
      .filter((c) => c.status === "fail")
      .map((c) => c.id)
      .sort();
  const composeUp = (file: string) =>
    lab.vm.must([...AS_AGENT, "docker", "compose", "-p", `moat-${NAME}`, "-f", file, "up", "-d", "--wait"], {
      timeoutMs: 60_000,
    });
  // Recreates the agent from a mutated copy of the rendered compose file, runs verify, restores.
  const withBrokenAgent = (mutate: (agent: Record<string, unknown>) => void): Report => {
    const model = parse(lab.vm.must(["cat", COMPOSE]));
    mutate(model.services.agent);
    lab.vm.must(["sh", "-c", `cat > ${BROKEN} && chmod 644 ${BROKEN}`], { input: stringify(model) });
    try {
      composeUp(BROKEN);
      return verify().report;
    } finally {
      composeUp(COMPOSE);
    }
  };

  before(() => {
    writeFileSync(join(dir, "moat.yaml"), SPEC);
    moat("lab", "down");
    const started = performance.now();
    const up = moat("lab", "up", "--import-image", busyboxRootfsTar());
    assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
    console.log(`# lab up: ${((performance.now() - started) / 1000).toFixed(1)} s (base image cached)`);
    for (const step of ["base", "package", "network", "cloud", "vm", "apply", "verify"])
      assert.match(up.stdout, new RegExp(`▸ ${step} `), `progress shows the ${step} step`);
    const state = readState(NAME);
    assert.ok(state, "lab state recorded");
    vm = labVm(state);
  });
  after(() => {
    moat("lab", "down");
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports itself up", () => {
    const r = moat("lab", "status", "--json");
    assert.equal(r.status, 0, r.stderr);
    const status = JSON.parse(r.stdout);
    assert.equal(status.up, true);
    assert.deepEqual(Object.values(status.namespaces), [true, true]);
  });

  it("serves a metadata service that answers root but never the agent", () => {
    const fetch = (path: string, header: string) =>
      vm.exec([
        VM_NODE,
        "-e",
        `fetch("http://169.254.169.254${path}", { headers: ${header} }).then(async (r) => console.log(r.status, await r.text()), (e) => { console.log("error", e.cause?.code); })`,
      ]).stdout;
    // Positive control: the service is live and behaves like OCI's (v2 needs the header, v1 is off).
    assert.match(fetch("/opc/v2/instance/", '{ authorization: "Bearer Oracle" }'), /^200 .*ocid1\.instance/);
    assert.match(fetch("/opc/v2/instance/", "{}"), /^401/);
    assert.match(fetch("/opc/v1/instance/", "{}"), /^404/);
    const hits = labEvents(NAME).filter((e) => e.kind === "metadata");
    assert.ok(hits.length >= 3);
    // Every metadata request the cloud ever saw came from the VM's root checks above, never from a
    // probe of verify (which tried every spelling from the agent's uid, subuids and container).
    assert.ok(hits.every((h) => h.from === "10.0.0.2"));
    assert.equal(hits.length, 3, JSON.stringify(hits));
  });

  it("carries the agent's placeholder to the fake provider as the real key, through the gateway only", async () => {
    const call = vm.exec([
      ...AS_AGENT,
      "docker",
      "exec",
      `moat-${NAME}-agent`,
      // Busybox wget sends --post-data as a GET when it goes through a proxy, and the route
      // forwards only POSTs to the inference endpoint: talk to the gateway's address directly.
      "env",
      "-u",
      "http_proxy",
      "-u",
      "HTTP_PROXY",
      "wget",
      "-q",
      "-O-",
      "--header",
      "authorization: Bearer moat-placeholder-llm-main",
      "--header",
      "content-type: application/json",
      "--post-data",
      '{"model":"gpt-5.4","messages":[{"role":"user","content":"hi"}]}',
      "http://198.18.0.1:3128/llm/main/chat/completions",
    ]);
    assert.equal(call.code, 0, call.stderr);
    assert.match(call.stdout, /Hello from the fake/);
    // The cloud process writes its log every 50 ms.
    let seen: Record<string, unknown>[] = [];
    for (let i = 0; i < 200 && seen.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = labEvents(NAME).filter((e) => e.kind === "llm");
    }
    assert.equal(seen.length, 1);
    // The lab's stand-in for the real key, which only the gateway was given.
    assert.match(String(seen[0]?.credential), /^lab-llm-0-apiKey-[0-9a-f]{32}$/);
  });

  it("moat lab logs: the gateway's decisions, the agent's log, the cloud's requests, readable and escaped", () => {
    const gateway = moat("lab", "logs");
    assert.equal(gateway.status, 0, gateway.stderr);
    assert.match(
      gateway.stdout,
      /Z {2}agent +llm main POST \/chat\/completions \(gpt-5\.4\) {2}ALLOW {2}200, /,
    );
    // verify's probes, from the agent's side, are refused and logged.
    assert.match(gateway.stdout, /Z {2}\S+ +CONNECT \S+ {2}DENY {2}/);
    // The agent writes to its own log what it likes: a clear-screen comes out as text.
    vm.must([
      ...AS_AGENT,
      "docker",
      "exec",
      `moat-${NAME}-agent`,
      "sh",
      "-c",
      "printf 'hello \\033[2J from the agent\\n' > /proc/1/fd/1",
    ]);
    const agent = moat("lab", "logs", "--agent");
    assert.equal(agent.status, 0, agent.stderr);
    assert.match(agent.stdout, /^hello \\x1b\[2J from the agent$/m);
    assert.ok(!agent.stdout.includes("\x1b"));
    const cloud = moat("lab", "logs", "--cloud");
    assert.equal(cloud.status, 0, cloud.stderr);
    assert.match(cloud.stdout, /Z {2}ready {5}cloud services up \(\w+ flavour\)/);
    assert.match(
      cloud.stdout,
      /Z {2}llm {7}openai \/v1\/chat\/completions model gpt-5\.4, with a credential/,
    );
    assert.doesNotMatch(cloud.stdout, /lab-llm-0-apiKey-/, "the credential the call carried is not printed");
    const both = moat("lab", "logs", "--agent", "--cloud");
    assert.equal(both.status, 1);
    assert.match(both.stderr, /pick one of --gateway, --agent, --cloud/);
  });

  it("passes every required check on the converged VM, within 10 s", () => {
    const { code, report } = verify();
    const bad = report.checks.filter((c) => c.status === "fail");
    assert.deepEqual(bad, [], JSON.stringify(bad, null, 2));
    assert.equal(code, 0);
    assert.equal(report.summary.ok, true);
    // Skips here are the machine's, not the VM's: cgroup v1 cannot enforce rootless limits; no Tailscale.
    const skipped = report.checks.filter((c) => c.status === "skip").map((c) => c.id);
    assert.deepEqual(skipped.sort(), ["container.limits", "host.tailscale"]);
    console.log(`# verify: ${report.summary.durationMs} ms for ${report.checks.length} checks`);
    assert.ok(report.summary.durationMs <= 10_000, `verify took ${report.summary.durationMs} ms`);
  });

  it("negative control: a port published on 0.0.0.0 fails container.ports only", () => {
    const report = withBrokenAgent((a) => {
      a.ports = ["0.0.0.0:8080:8080"];
    });
    assert.deepEqual(failing(report), ["container.ports"]);
  });

  it("negative control: CAP_NET_RAW fails container.capabilities only", () => {
    const report = withBrokenAgent((a) => {
      a.cap_add = ["NET_RAW"];
    });
    assert.deepEqual(failing(report), ["container.capabilities"]);
  });

  it("negative control: the Docker socket mounted fails container.mounts only", () => {
    const report = withBrokenAgent((a) => {
      a.volumes = ["/run/user/2000/docker.sock:/var/run/docker.sock"];
    });
    assert.deepEqual(failing(report), ["container.mounts"]);
  });

  it("negative control: the real Telegram token in the agent's env fails secrets.agent only", () => {
    const report = withBrokenAgent((a) => {
      (a.environment as Record<string, string>).NOTES = realToken();
    });
    assert.deepEqual(failing(report), ["secrets.agent"]);
    const leak = report.checks.find((c) => c.id === "secrets.agent");
    assert.match(leak?.detail ?? "", /messengers\.telegram\.botToken/);
    assert.doesNotMatch(JSON.stringify(report), new RegExp(realToken()), "the report never prints it");
  });

  it("negative control: the gateway's Telegram allowlist opened to a stranger fails gateway.telegram-allowlist only", () => {
    const live = "/etc/moat/moat.yaml";
    const original = lab.vm.must(["cat", live]);
    const spec = parse(original);
    // The id verify writes to (strangerChat): any allowlist holding it is an allowlist switched off.
    spec.messengers.telegram.allowChats = [-1009990000001];
    const restart = () => lab.vm.must(["sh", "-c", "systemctl restart moat-gateway && sleep 1"]);
    lab.vm.must(["sh", "-c", `cat > ${live}`], { input: stringify(spec) });
    try {
      restart();
      assert.deepEqual(failing(verify().report), ["gateway.telegram-allowlist"]);
    } finally {
      lab.vm.must(["sh", "-c", `cat > ${live}`], { input: original });
      restart();
    }
  });

  // Issue 13: the hosts the gateway's own routes serve, reopened to the agent in the gateway's live
  // config. The lab's fake Bot API answers, so the agent's tunnel to it opens: a channel again.
  it("negative control: the implied hosts reopened in the gateway's live config fail net.implied-hosts only", () => {
    const live = "/etc/moat/moat.yaml";
    const original = lab.vm.must(["cat", live]);
    const spec = parse(original);
    spec.egress.allow = [
      ...spec.egress.allow,
      "api.telegram.org",
      "api.openai.com",
      "*.docker.io",
      "*.docker.com",
    ];
    spec.egress.allow.push("*.cloudflarestorage.com");
    const restart = () => lab.vm.must(["sh", "-c", "systemctl restart moat-gateway && sleep 1"]);
    lab.vm.must(["sh", "-c", `cat > ${live}`], { input: stringify(spec) });
    try {
      restart();
      const { report } = verify();
      assert.deepEqual(failing(report), ["net.implied-hosts"]);
      const detail = report.checks.find((c) => c.id === "net.implied-hosts")?.detail ?? "";
      console.log(`# net.implied-hosts with the channel reopened: ${detail}`);
      assert.match(detail, /CONNECT api\.telegram\.org:443 → 200/);
    } finally {
      lab.vm.must(["sh", "-c", `cat > ${live}`], { input: original });
      restart();
    }
  });

  it("negative control: without Moat's table, the firewall check and every probe it backs fail", () => {
    lab.vm.must(["nft", "delete", "table", "inet", "moat"]);
    try {
      // The probes are the evidence the table mattered: each source now reaches metadata and the host.
      assert.deepEqual(failing(verify().report), [
        "host.firewall",
        "net.agent-answers",
        "net.agent-uid",
        "net.container",
        "net.dns",
        "net.subuid",
      ]);
    } finally {
      lab.apply(["--only", "firewall"]);
    }
  });

  it("negative control: the gateway run as root (no separate user) fails host.gateway-user only", () => {
    const dropIn = "/etc/systemd/system/moat-gateway.service.d/zz-as-root.conf";
    // Root also needs the capabilities the sandbox took away to open the gateway user's files.
    const asRoot =
      "[Service]\nUser=root\nGroup=root\nPrivateUsers=no\nCapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH\n";
    const restart = () =>
      vm.must(["sh", "-c", "systemctl daemon-reload && systemctl restart moat-gateway && sleep 1"]);
    vm.must(["sh", "-c", `cat > ${dropIn}`], { input: asRoot });
    try {
      restart();
      assert.deepEqual(failing(verify().report), ["host.gateway-user"]);
    } finally {
      vm.must(["rm", "-f", dropIn]);
      restart();
    }
  });

  it("is green again once every control is restored", () => {
    const { code, report } = verify();
    assert.deepEqual(failing(report), []);
    assert.equal(code, 0);
  });

  it("lab down leaves no namespace, process, interface or disk behind", () => {
    const state = readState(NAME);
    assert.ok(state);
    const down = moat("lab", "down");
    assert.equal(down.status, 0, down.stderr);
    const namespaces = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    for (const ns of Object.values(labNamespaces(NAME))) assert.doesNotMatch(namespaces, new RegExp(ns));
    for (const pid of [state.nspawnPid, state.cloudPid])
      assert.equal(existsSync(`/proc/${pid}`), false, `pid ${pid} gone`);
    assert.equal(spawnSync("pgrep", ["-f", `moat-lab-${NAME}`]).status, 1, "no process names the lab");
    // The lab's interfaces lived only in its namespaces; none was ever made in this one.
    assert.doesNotMatch(
      spawnSync("ip", ["-o", "link"], { encoding: "utf8" }).stdout,
      /vcn0|imds0|inet0|moat0/,
    );
    assert.equal(existsSync(state.rootfs), false, "the VM's disk (and the containers in it) removed");
    assert.equal(existsSync(stateDir(NAME)), false, "state removed");
    assert.equal(moat("lab", "status").status, 1, "status says down");
  });
});
