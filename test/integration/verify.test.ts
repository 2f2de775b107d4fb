// `moat verify` inside a converged Debian 13 VM (nspawn in test namespaces): every required check
// green, then each control broken in turn and verify failing on exactly the checks that
// control owns, and passing again once it is restored.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { AS_AGENT, VM_NODE, VM_PACKAGE, VM_SPEC } from "../support/host-lab.js";
import { REAL_TELEGRAM_TOKEN, VerifyLab } from "../support/verify-lab.js";

const COMPOSE = "/etc/moat/compose/compose.yaml";
const BROKEN = "/tmp/moat-broken-compose.yaml";

interface Report {
  checks: { id: string; status: string; detail: string; fix: string }[];
  summary: { ok: boolean; durationMs: number };
}

describe("moat verify on a converged VM", { concurrency: false, timeout: 300_000 }, () => {
  const lab = new VerifyLab("verify");
  const verify = (): { code: number; report: Report } => {
    const r = lab.vm.exec([VM_NODE, `${VM_PACKAGE}/bin/moat.js`, "verify", "-c", VM_SPEC, "--json"], {
      timeoutMs: 30_000,
    });
    try {
      return { code: r.code, report: JSON.parse(r.stdout) };
    } catch {
      throw new Error(`verify printed no report (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  };
  const failing = (report: Report) =>
    report.checks
      .filter((c) => c.status === "fail")
      .map((c) => c.id)
      .sort();
  const composeUp = (file: string) =>
    lab.vm.must([...AS_AGENT, "docker", "compose", "-f", file, "up", "-d", "--wait"], { timeoutMs: 60_000 });
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

  before(async () => {
    await lab.up();
    const { code, report } = lab.apply();
    assert.equal(code, 0, JSON.stringify(report.steps.map((s) => [s.step, s.status, s.error])));
  });
  after(async () => {
    await lab.down();
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
      (a.environment as Record<string, string>).NOTES = REAL_TELEGRAM_TOKEN;
    });
    assert.deepEqual(failing(report), ["secrets.agent"]);
    const leak = report.checks.find((c) => c.id === "secrets.agent");
    assert.match(leak?.detail ?? "", /messengers\.telegram\.botToken/);
    assert.doesNotMatch(
      JSON.stringify(report),
      new RegExp(REAL_TELEGRAM_TOKEN),
      "the report never prints it",
    );
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

  it("negative control: without Moat's table, the firewall check and every probe it backs fail", () => {
    lab.vm.must(["nft", "delete", "table", "inet", "moat"]);
    try {
      // The probes are the evidence the table mattered: each source now reaches metadata and the host.
      assert.deepEqual(failing(verify().report), [
        "host.firewall",
        "net.agent-uid",
        "net.container",
        "net.dns",
        "net.subuid",
      ]);
    } finally {
      lab.apply(["--only", "firewall"]);
    }
  });

  it("is green again once every control is restored", () => {
    const { code, report } = verify();
    assert.deepEqual(failing(report), []);
    assert.equal(code, 0);
  });
});
