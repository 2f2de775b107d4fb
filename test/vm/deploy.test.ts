// `moat deploy` end to end, run as an operator would from a test namespace linked only to the
// test VM's (a booted Debian 13 under nspawn with sshd): the ssh target over real SSH, push,
// host apply and verify; then the oci target with a fake `tofu` standing in only for the
// Terraform step (capacity retry across availability domains, its limit, re-runs creating
// nothing, destroy); and a changed host key refused.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isRefusal, parseAuditLine } from "../../src/gateway/audit-format.js";
import { installFakeTofu } from "../support/fake-tofu.js";
import { labSpec, VM_NODE } from "../support/host-lab.js";
import { busyboxRootfsTar } from "../support/moat-package.js";
import { needsRoot } from "../support/root.js";
import { ALLOWED_DOMAIN, TELEGRAM_OWNER, VerifyLab } from "../support/verify-lab.js";
import { CACHE } from "../support/vm.js";

const REPO = new URL("../..", import.meta.url).pathname;
const VM_ADDR = "203.0.113.2";
const OP_ADDR = "203.0.113.1";
const TELEGRAM_TOKEN = "7000000002:AAdeploy-test-token-only-the-gateway-holds-42";
const LLM_KEY = "sk-deploy-test-real-llm-key-0123456789abcdef";
// The machine's own skips (cgroup v1 cannot enforce rootless limits; no Tailscale here).
const MACHINE_SKIPS = ["container.limits", "host.tailscale"];

const specYaml = (target: string) =>
  labSpec(
    "dep",
    `messengers:
  telegram:
    botToken: { file: TOKEN_FILE }
    allowFrom: [${TELEGRAM_OWNER}]
llm:
  - name: main
    kind: openai
    apiKey: { env: DEP_LLM_KEY }
    models: [gpt-5.4]
egress:
  allow: [${ALLOWED_DOMAIN}]
`,
    target,
  );

interface VmStatusJson {
  agent: { container: string; state: string; since?: string };
  gateway: { active: string; metrics: string; openTunnels?: number };
  spend: unknown[];
  lastVerify?: { at: string; summary: { ok: boolean } };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("moat deploy", {
  skip: needsRoot("boots an nspawn VM in a network namespace"),
  concurrency: false,
  timeout: 1_200_000,
}, () => {
  const lab = new VerifyLab("dep", undefined, { seedTelegramToken: false });
  const work = mkdtempSync(join(tmpdir(), "moat-deploy-"));
  const home = join(work, "home");
  const key = join(work, "id_ed25519");
  const tokenFile = join(work, "telegram-token");
  const sshDir = join(work, "ssh-state");
  const ociDir = join(work, "oci-state");
  const tofuLog = join(work, "fake-tofu.log");
  let opNs = "";
  let fakeTofuBin = "";

  const moat = (args: string[], env: Record<string, string> = {}): Run => {
    const r = spawnSync("ip", ["netns", "exec", opNs, process.execPath, join(REPO, "bin/moat.js"), ...args], {
      cwd: work,
      encoding: "utf8",
      timeout: 600_000,
      maxBuffer: 64 << 20,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: `${fakeTofuBin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        HOME: home,
        NO_COLOR: "1",
        MOAT_CACHE_DIR: CACHE,
        FAKE_TOFU_LOG: tofuLog,
        FAKE_TOFU_PUBLIC_IP: VM_ADDR,
        DEP_LLM_KEY: LLM_KEY,
        ...env,
      },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  const deploySsh = () =>
    moat(["deploy", "-c", "ssh.yaml", "--dir", sshDir, "--import-image", busyboxRootfsTar()]);
  const deployOci = (extra: string[] = [], env: Record<string, string> = {}, dir = ociDir) =>
    moat(
      [
        "deploy",
        "-c",
        "oci.yaml",
        "--dir",
        dir,
        "--identity",
        key,
        "--ssh-user",
        "root",
        "--import-image",
        busyboxRootfsTar(),
        "--capacity-wait",
        "0",
        ...extra,
      ],
      env,
    );
  const tofuCalls = () => (existsSync(tofuLog) ? readFileSync(tofuLog, "utf8").trim().split("\n") : []);
  const filesUnder = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) =>
      statSync(join(dir, n)).isDirectory() ? filesUnder(join(dir, n)) : [join(dir, n)],
    );

  before(async () => {
    mkdirSync(join(home, ".oci"), { recursive: true });
    // What OCI's console snippet puts there; the provider (here: the fake) reads the key itself.
    writeFileSync(
      join(home, ".oci/config"),
      "[DEFAULT]\nregion=eu-frankfurt-1\ntenancy=ocid1.tenancy.oc1..deploytest\n",
    );
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "moat-deploy-test", "-f", key]);
    writeFileSync(tokenFile, `${TELEGRAM_TOKEN}\n`, { mode: 0o600 });
    writeFileSync(
      join(work, "ssh.yaml"),
      specYaml(`{ kind: ssh, host: ${VM_ADDR}, user: root, identityFile: ${key} }`).replace(
        "TOKEN_FILE",
        tokenFile,
      ),
    );
    writeFileSync(
      join(work, "oci.yaml"),
      specYaml("{ kind: oci, region: eu-frankfurt-1 }")
        .replace("TOKEN_FILE", tokenFile)
        // The cloud firewall's SSH rule: the operator's address.
        .replace("  sshUsers: [root]\n", `  sshUsers: [root]\n  allowFrom: [${OP_ADDR}/32]\n`),
    );
    fakeTofuBin = installFakeTofu(work);
    await lab.up();
    opNs = lab.net.addNs("op");
    lab.net.link(lab.vmNs, [`${VM_ADDR}/24`], opNs, [`${OP_ADDR}/24`], "o");
    // What the rendered cloud-init does on a cloud VM: the operator's key for root, Moat's pinned
    // Node in /opt/moat/node, and the marker deploy waits for.
    lab.vm.must(["sh", "-c", "install -d -m 0700 /root/.ssh && cat > /root/.ssh/authorized_keys"], {
      input: readFileSync(`${key}.pub`, "utf8"),
    });
    lab.vm.must([
      "sh",
      "-c",
      `install -d /opt/moat/node/bin /var/lib/moat && cp ${VM_NODE} /opt/moat/node/bin/node && touch /var/lib/moat/cloud-init.done`,
    ]);
  });
  after(async () => {
    await lab.down();
    rmSync(work, { recursive: true, force: true });
  });

  it("deploys to an ssh target: pushes, applies, verifies, and the secrets land for the gateway only", () => {
    const r = deploySsh();
    assert.equal(r.code, 0, show(r));
    console.log(r.stdout.replace(/^/gm, "# "));
    for (const step of ["render", "connect", "push", "apply", "verify"])
      assert.match(r.stdout, new RegExp(`▸ ${step}`));
    assert.doesNotMatch(r.stdout, /▸ terraform/);
    assert.match(r.stdout, /Moat package uploaded/);
    assert.match(r.stdout, /step firewall changed/, "host apply's steps shown as they finish");
    assert.match(r.stdout, /perimeter holds: \d+ passed, 0 failed/);
    assert.match(
      r.stdout,
      /agent: your Telegram bot; the agent's API is on 127\.0\.0\.1:8080 on 203\.0\.113\.2/,
    );

    const stat = (p: string) => lab.vm.must(["stat", "-c", "%U:%G %a", p]).trim();
    assert.equal(stat("/etc/moat-secrets/telegram-bot-token"), "root:moat-gateway 640");
    assert.equal(stat("/etc/moat-secrets/llm-main-api-key"), "root:moat-gateway 640");
    assert.equal(stat("/etc/moat-secrets"), "root:moat-gateway 750");
    assert.equal(lab.vm.must(["cat", "/etc/moat-secrets/telegram-bot-token"]).trim(), TELEGRAM_TOKEN);
    assert.equal(lab.vm.must(["cat", "/etc/moat-secrets/llm-main-api-key"]).trim(), LLM_KEY);
    const live = lab.vm.must(["cat", "/etc/moat/moat.yaml"]);
    assert.match(live, /botToken: \{ file: \/etc\/moat-secrets\/telegram-bot-token \}/);
    assert.ok(!live.includes(TELEGRAM_TOKEN) && !live.includes(LLM_KEY));
    // The gateway's user reads them; the agent's cannot.
    lab.vm.must([
      "setpriv",
      "--reuid=2001",
      "--regid=2001",
      "--init-groups",
      "cat",
      "/etc/moat-secrets/telegram-bot-token",
    ]);
    assert.notEqual(
      lab.vm.exec([
        "setpriv",
        "--reuid=2000",
        "--regid=2000",
        "--init-groups",
        "cat",
        "/etc/moat-secrets/llm-main-api-key",
      ]).code,
      0,
    );
    // No temp copy left anywhere deploy wrote on the VM.
    assert.equal(lab.vm.must(["sh", "-c", "ls /etc/moat-secrets | grep -c moat-new || true"]).trim(), "0");
    assert.equal(lab.vm.must(["sh", "-c", "ls -d /tmp/moat-upload.* 2>/dev/null | wc -l"]).trim(), "0");

    // Nothing deploy wrote on the operator's side holds a secret, and neither did its output.
    const written = filesUnder(sshDir);
    assert.ok(
      written.some((f) => f.endsWith(".moat-deploy.json")) && written.some((f) => f.endsWith("known_hosts")),
    );
    for (const f of written) {
      const text = readFileSync(f, "latin1");
      assert.ok(!text.includes(TELEGRAM_TOKEN) && !text.includes(LLM_KEY), `secret in ${f}`);
    }
    for (const out of [r.stdout, r.stderr])
      assert.ok(!out.includes(TELEGRAM_TOKEN) && !out.includes(LLM_KEY));
  });

  it("converges on a second deploy: nothing uploaded again, nothing changed", () => {
    const r = deploySsh();
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /Moat package already there/);
    assert.match(r.stdout, /agent image already there/);
    assert.match(
      r.stdout,
      /messengers\.telegram\.botToken → \/etc\/moat-secrets\/telegram-bot-token: unchanged/,
    );
    assert.match(r.stdout, /host apply: changed nothing/);
  });

  it("moat status: reachable, and the host's verify green but for the machine's own skips", () => {
    const r = moat(["status", "-c", "ssh.yaml", "--dir", sshDir, "--json"]);
    assert.equal(r.code, 0, show(r));
    const s = JSON.parse(r.stdout) as {
      reachable: boolean;
      state: { host: string; target: string };
      verify: { checks: { id: string; status: string }[]; summary: { ok: boolean } };
    };
    assert.equal(s.reachable, true);
    assert.equal(s.state.host, VM_ADDR);
    assert.equal(s.verify.summary.ok, true);
    assert.deepEqual(
      s.verify.checks.filter((c) => c.status === "fail"),
      [],
    );
    const skipped = s.verify.checks.filter((c) => c.status === "skip").map((c) => c.id);
    assert.deepEqual(skipped.sort(), MACHINE_SKIPS);
    const text = moat(["status", "-c", "ssh.yaml", "--dir", sshDir]);
    assert.match(text.stdout, /dep \(ssh\) at root@203\.0\.113\.2/);
    assert.match(text.stdout, /host: reachable/);
  });

  it("moat status: the VM's own status over the same SSH: agent, gateway, spend, the verify just run", () => {
    const r = moat(["status", "-c", "ssh.yaml", "--dir", sshDir, "--json"]);
    assert.equal(r.code, 0, show(r));
    const vm = (JSON.parse(r.stdout) as { vm: VmStatusJson }).vm;
    assert.equal(vm.agent.container, "moat-dep-agent");
    assert.equal(vm.agent.state, "running");
    assert.ok(vm.agent.since && Date.parse(vm.agent.since) < Date.now());
    assert.match(vm.gateway.active, /^active \(running\)$/);
    assert.equal(vm.gateway.metrics, "ok");
    assert.equal(typeof vm.gateway.openTunnels, "number");
    assert.deepEqual(
      (vm.spend as { provider: string; source: string }[]).map((p) => [p.provider, p.source]),
      [["main", "metrics"]],
    );
    // Recorded by the verify this status ran a moment before.
    assert.equal(vm.lastVerify?.summary.ok, true);
    assert.ok(Date.now() - Date.parse(vm.lastVerify?.at ?? "") < 120_000, vm.lastVerify?.at);
    const text = moat(["status", "-c", "ssh.yaml", "--dir", sshDir]);
    console.log(text.stdout.replace(/^/gm, "# "));
    assert.match(text.stdout, /agent {4}moat-dep-agent running since \S+ \(\d+ (s|min) ago\)/);
    assert.match(
      text.stdout,
      /gateway {2}moat-gateway\.service active \(running\) since .*, \d+ open tunnels/,
    );
    assert.match(text.stdout, /spend {4}main: \$\d+\.\d{4} \(no budget\) today/);
    assert.match(text.stdout, /verify {3}perimeter holds at /);
    // On the VM itself it reads the VM, with no deploy state in sight.
    const local = lab.vm.exec(["/opt/moat/node/bin/node", "/opt/moat/bin/moat.js", "status"]);
    assert.equal(local.code, 0, `${local.stdout}\n${local.stderr}`);
    assert.match(local.stdout, /^dep on this VM\n {2}agent {4}moat-dep-agent running/);
  });

  // The agent asks the gateway for a host nobody allowlisted (uid 2000 is the spec's agent; the
  // Node deploy uses is readable to it, the bootstrap one under /root is not).
  const agentAsksFor = (host: string) =>
    lab.vm.must([
      "setpriv",
      "--reuid=2000",
      "--regid=2000",
      "--init-groups",
      "/opt/moat/node/bin/node",
      "-e",
      `const s = require("net").connect(3128, "198.18.0.1", () => s.write("CONNECT ${host}:443 HTTP/1.1\\r\\nHost: ${host}:443\\r\\n\\r\\n")); s.on("data", (d) => { process.stdout.write(String(d)); s.destroy(); });`,
    ]);

  it("moat logs over SSH: --denied --json is the VM's own refusals, the one this test caused among them", () => {
    assert.match(agentAsksFor("logs-probe.test"), /^HTTP\/1\.1 403/);
    const r = moat(["logs", "-c", "ssh.yaml", "--dir", sshDir, "--denied", "--json"]);
    assert.equal(r.code, 0, show(r));
    const got = r.stdout.split("\n").filter(Boolean);
    const onVm = lab.vm
      .must(["cat", "/var/log/moat/gateway-audit.log"])
      .split("\n")
      .filter((l) => {
        const rec = parseAuditLine(l);
        return rec && isRefusal(rec);
      });
    assert.deepEqual(got, onVm);
    assert.equal(got.filter((l) => l.includes('"host":"logs-probe.test"')).length, 1);
    const text = moat(["logs", "-c", "ssh.yaml", "--dir", sshDir, "--denied", "--since", "10m"]);
    assert.equal(text.code, 0, show(text));
    assert.match(text.stdout, /Z {2}\S+ +CONNECT logs-probe\.test:443 {2}DENY {2}not-allowlisted: /);
  });

  it("moat logs --follow over SSH: a new refusal arrives, and Ctrl-C ends it and the remote side", async () => {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        opNs,
        process.execPath,
        join(REPO, "bin/moat.js"),
        "logs",
        "-c",
        "ssh.yaml",
        "--dir",
        sshDir,
        "--follow",
        "--denied",
      ],
      {
        cwd: work,
        env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const until = async (check: () => boolean, what: string) => {
      const deadline = Date.now() + 30_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`${what}; got:\n${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    try {
      await until(() => out.includes("logs-probe.test"), "the history");
      agentAsksFor("follow-probe.test");
      await until(() => out.includes("follow-probe.test"), "the new refusal");
    } finally {
      child.kill("SIGINT");
    }
    assert.equal(await new Promise((r) => child.on("exit", (c) => r(c))), 0, out);
    // The VM's `moat logs --follow` ended with the connection.
    await new Promise((r) => setTimeout(r, 1000));
    const left = lab.vm.must([
      "sh",
      "-c",
      "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c 'moat[.]js logs' || true",
    ]);
    assert.equal(left.trim(), "0", "no moat logs left on the VM");
  });

  it("says what to install when neither tofu nor terraform is on PATH", () => {
    const r = moat(
      ["deploy", "-c", "oci.yaml", "--dir", join(work, "no-tofu"), "--identity", key, "--ssh-user", "root"],
      {
        PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      },
    );
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /neither `tofu` nor `terraform` is on PATH/);
  });

  it("oci: retries OCI's 'Out of host capacity' across availability domains, then deploys", () => {
    const r = deployOci([], { FAKE_TOFU_FULL_ADS: "0,1" });
    assert.equal(r.code, 0, show(r));
    console.log(r.stdout.split("▸ connect")[0]?.replace(/^/gm, "# "));
    const applies = tofuCalls().filter((l) => l.startsWith("apply"));
    assert.deepEqual(
      applies.map((l) => l.match(/availability_domain_index=(\d)/)?.[1]),
      ["0", "1", "2"],
    );
    for (const l of applies) {
      assert.match(l, /^apply -auto-approve -input=false -no-color /);
      assert.match(l, /-var=ssh_public_key=ssh-ed25519 AAAA\S+ moat-deploy-test/);
      assert.match(l, /-var=tenancy_ocid=ocid1\.tenancy\.oc1\.\.deploytest/);
    }
    assert.match(r.stdout, /▸ terraform/);
    assert.match(r.stdout, /apply, attempt 1 of 6, availability domain index 0/);
    assert.match(r.stdout, /Error: 500-InternalError, Out of host capacity\./);
    assert.match(r.stdout, /OCI is out of host capacity in availability domain index 1/);
    assert.match(r.stdout, /oci_core_instance\.moat: Creation complete/);
    assert.match(r.stdout, /perimeter holds/);
    assert.ok(
      existsSync(join(ociDir, "terraform/main.tf")) && existsSync(join(ociDir, "cloud-init/user-data.yaml")),
    );
    const state = JSON.parse(readFileSync(join(ociDir, ".moat-deploy.json"), "utf8"));
    assert.equal(state.adIndex, 2);
    assert.equal(state.instanceId, "ocid1.instance.oc1..fake1");
    assert.equal(state.host, VM_ADDR);
    // No secret went near Terraform: not its variables, not the rendered bundle, not its state.
    for (const f of filesUnder(ociDir)) {
      const text = readFileSync(f, "latin1");
      assert.ok(!text.includes(TELEGRAM_TOKEN) && !text.includes(LLM_KEY), `secret in ${f}`);
    }
    assert.ok(!readFileSync(tofuLog, "utf8").includes(LLM_KEY));
  });

  it("oci: a second deploy stays in the same availability domain and creates nothing", () => {
    const before = readFileSync(join(ociDir, "terraform/terraform.tfstate"), "utf8");
    const calls = tofuCalls().length;
    const r = deployOci([], { FAKE_TOFU_FULL_ADS: "0,1" });
    assert.equal(r.code, 0, show(r));
    const applies = tofuCalls()
      .slice(calls)
      .filter((l) => l.startsWith("apply"));
    assert.equal(applies.length, 1);
    assert.match(applies[0] ?? "", /availability_domain_index=2/);
    assert.match(r.stdout, /No changes\. Your infrastructure matches the configuration\./);
    assert.equal(readFileSync(join(ociDir, "terraform/terraform.tfstate"), "utf8"), before);
    assert.equal(readFileSync(join(ociDir, "terraform/created.count"), "utf8").trim(), "1");
    assert.match(r.stdout, /host apply: changed nothing/);
  });

  it("oci: stops after the attempt limit the user set, saying so", () => {
    const calls = tofuCalls().length;
    const r = deployOci(
      ["--capacity-attempts", "2"],
      { FAKE_TOFU_FULL_ADS: "0,1,2" },
      join(work, "full-state"),
    );
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /OCI had no A1 capacity in 2 attempt\(s\) across 3 availability domain\(s\)/);
    assert.equal(
      tofuCalls()
        .slice(calls)
        .filter((l) => l.startsWith("apply")).length,
      2,
    );
    assert.doesNotMatch(r.stdout, /▸ connect/);
  });

  it("destroy refuses without --yes off a terminal, then runs tofu destroy with --yes", () => {
    const calls = tofuCalls().length;
    const refused = moat(["destroy", "-c", "oci.yaml", "--dir", ociDir]);
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /pass --yes/);
    assert.equal(tofuCalls().length, calls, "nothing ran");
    const r = moat(["destroy", "-c", "oci.yaml", "--dir", ociDir, "--yes"]);
    assert.equal(r.code, 0, show(r));
    assert.match(
      tofuCalls().at(-1) ?? "",
      /^destroy -auto-approve -input=false -no-color -var=ssh_public_key=ssh-ed25519 \S+ \S+ -var=availability_domain_index=2 -var=tenancy_ocid=ocid1\.tenancy\.oc1\.\.deploytest$/,
    );
    assert.match(r.stdout, /Destroy complete!/);
    assert.ok(!existsSync(join(ociDir, "terraform/terraform.tfstate")));
    assert.ok(!existsSync(join(ociDir, ".moat-deploy.json")));
    const s = moat(["status", "-c", "oci.yaml", "--dir", ociDir]);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /not deployed from here/);
    const ssh = moat(["destroy", "-c", "ssh.yaml", "--dir", sshDir, "--yes"]);
    assert.equal(ssh.code, 1);
    assert.match(ssh.stderr, /target\.kind ssh: destroy removes cloud resources deploy created/);
  });

  it("an existing host refusing the key fails at once, naming the user and key", () => {
    const other = join(work, "other_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const started = Date.now();
    const r = moat(["deploy", "-c", "ssh.yaml", "--dir", sshDir, "-i", other]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /root@203\.0\.113\.2:22 refused the key .*check target\.user and the key/);
    assert.ok(Date.now() - started < 30_000, "no waiting for a key that will not be accepted");
  });

  it("negative control: a changed host key stops deploy before anything is pushed", () => {
    lab.vm.must([
      "sh",
      "-c",
      "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh",
    ]);
    const mtime = lab.vm.must(["stat", "-c", "%Y", "/var/cache/moat-deploy/moat.yaml"]);
    const r = deploySsh();
    assert.equal(r.code, 1, show(r));
    assert.match(
      r.stderr,
      /the host key of 203\.0\.113\.2 changed \(now ssh-ed25519 SHA256:\S+\); refusing to connect/,
    );
    assert.match(r.stderr, /known_hosts/);
    assert.doesNotMatch(r.stdout, /▸ push/);
    assert.equal(lab.vm.must(["stat", "-c", "%Y", "/var/cache/moat-deploy/moat.yaml"]), mtime);
  });
});
