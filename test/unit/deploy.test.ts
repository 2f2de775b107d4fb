// moat deploy's pure parts: which steps per target, the OCI capacity retry schedule, where
// secrets go and the spec the VM gets, host key pinning, the remote facts and Node choice.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { capacitySchedule, isOutOfCapacity } from "../../src/deploy/capacity.js";
import { ociTenancy, tofuVariables } from "../../src/deploy/cloud-vars.js";
import {
  fingerprint,
  HostKeyMismatch,
  hostPattern,
  judgeHostKey,
  KnownHosts,
  keyFromBlob,
} from "../../src/deploy/known-hosts.js";
import {
  accessHint,
  cloudSshProblem,
  DeployRefused,
  deploySteps,
  loginProblem,
  loginUser,
  sshCandidates,
} from "../../src/deploy/plan.js";
import { secretScript } from "../../src/deploy/push.js";
import { parseFacts, pickNode, RemoteUnfit } from "../../src/deploy/remote.js";
import { readDeploySecrets, secretPlacements, vmSpecText } from "../../src/deploy/secrets.js";
import { commandLine } from "../../src/deploy/ssh.js";
import { findTofu, TofuMissing } from "../../src/deploy/tofu.js";
import { TAILSCALE_AUTHKEY_FILE } from "../../src/render/paths.js";
import { parseSpec } from "../../src/spec/load.js";
import { SecretUnavailable } from "../../src/spec/secrets.js";
import { EXAMPLE_YAML, specFrom } from "../helpers.js";

const withTarget = (target: string, extra = "") =>
  specFrom(`${EXAMPLE_YAML.replace("target: { kind: lab }", `target: ${target}`)}${extra}`);
const OCI = "{ kind: oci, region: eu-frankfurt-1 }";
const SSH = "{ kind: ssh, host: agent.example.com, user: admin }";

describe("deploy plan", () => {
  it("runs Terraform for clouds only and refuses the lab target", () => {
    assert.deepEqual(deploySteps(withTarget(OCI)), [
      "render",
      "terraform",
      "connect",
      "push",
      "apply",
      "verify",
    ]);
    assert.deepEqual(
      deploySteps(withTarget("{ kind: aws, region: eu-central-1 }")).includes("terraform"),
      true,
    );
    assert.deepEqual(deploySteps(withTarget(SSH)), ["render", "connect", "push", "apply", "verify"]);
    assert.throws(() => deploySteps(specFrom()), DeployRefused);
  });

  it("logs in as the ssh target's user or ubuntu, and refuses a user sshd would lock out", () => {
    assert.equal(loginUser(withTarget(SSH)), "admin");
    assert.equal(loginUser(withTarget(OCI)), "ubuntu");
    assert.equal(loginUser(withTarget(OCI), "root"), "root");
    assert.equal(loginProblem(withTarget(OCI), "ubuntu"), null);
    assert.match(loginProblem(withTarget(OCI), "root") ?? "", /access\.sshUsers/);
  });

  it("refuses a cloud deploy whose firewall would let no SSH in", () => {
    assert.match(cloudSshProblem(withTarget(OCI)) ?? "", /access\.allowFrom is empty/);
    const open = specFrom(
      EXAMPLE_YAML.replace("target: { kind: lab }", `target: ${OCI}`).replace(
        "access:\n",
        "access:\n  allowFrom: [198.51.100.7/32]\n",
      ),
    );
    assert.equal(cloudSshProblem(open), null);
    assert.equal(cloudSshProblem(withTarget(SSH)), null);
  });

  it("tries Tailscale first once applied (public SSH is closed then), the address first before", () => {
    const spec = withTarget(OCI);
    const first = sshCandidates(spec, { publicHost: "203.0.113.7", user: "ubuntu", appliedBefore: false });
    assert.deepEqual(
      first.map((c) => c.host),
      ["203.0.113.7", "demo-agent"],
    );
    const later = sshCandidates(spec, { publicHost: "203.0.113.7", user: "ubuntu", appliedBefore: true });
    assert.deepEqual(
      later.map((c) => c.host),
      ["demo-agent", "203.0.113.7"],
    );
    const bare = specFrom(
      `version: 1\nname: x\ntarget: ${SSH.replace("}", ", port: 2222 }")}\nagent: { profile: custom, image: "a/b:1", writablePaths: [] }\n`,
    );
    assert.deepEqual(sshCandidates(bare, { publicHost: "h", user: "admin", appliedBefore: true }), [
      { host: "h", port: 2222, user: "admin" },
    ]);
  });

  it("points at Tailscale serve when it runs, else says the port stays on loopback", () => {
    const spec = withTarget(OCI);
    const ep = { host: "203.0.113.7", port: 22, user: "ubuntu" };
    assert.equal(
      accessHint(spec, ep, "demo-agent.tail1234.ts.net."),
      "https://demo-agent.tail1234.ts.net/ (Tailscale serve)",
    );
    const bare = specFrom(
      `version: 1\nname: x\ntarget: ${OCI}\nagent: { profile: custom, image: "a/b:1", writablePaths: [] }\n`,
    );
    assert.match(accessHint(bare, ep), /^127\.0\.0\.1:18789 on 203\.0\.113\.7 \(loopback only/);
  });
});

describe("Terraform variables", () => {
  const CONFIG =
    "[DEFAULT]\nuser=ocid1.user.oc1..u\ntenancy=ocid1.tenancy.oc1..default\n\n[WORK]\ntenancy = ocid1.tenancy.oc1..work\n";
  const inputs = (env: NodeJS.ProcessEnv = {}, text = CONFIG) => ({
    publicKey: "ssh-ed25519 AAAA k",
    adIndex: 2,
    env,
    ociConfig: { path: "/home/u/.oci/config", text },
  });

  it("passes the key, the AD index and the tenancy from the profile in ~/.oci/config", () => {
    assert.deepEqual(tofuVariables(withTarget(OCI), inputs()), {
      ssh_public_key: "ssh-ed25519 AAAA k",
      availability_domain_index: 2,
      tenancy_ocid: "ocid1.tenancy.oc1..default",
    });
    assert.equal(
      tofuVariables(withTarget(OCI), inputs({ TF_VAR_oci_config_profile: "WORK" })).tenancy_ocid,
      "ocid1.tenancy.oc1..work",
    );
    assert.equal(ociTenancy(CONFIG, "NONE"), undefined);
  });

  it("leaves to the environment what it sets, and AWS needs only the key", () => {
    assert.equal(
      tofuVariables(withTarget(OCI), inputs({ TF_VAR_tenancy_ocid: "x" })).tenancy_ocid,
      undefined,
    );
    const inCompartment = withTarget("{ kind: oci, region: r, compartmentId: ocid1.compartment.oc1..c }");
    assert.equal(tofuVariables(inCompartment, inputs({}, "")).tenancy_ocid, undefined);
    assert.deepEqual(tofuVariables(withTarget("{ kind: aws, region: eu-central-1 }"), inputs()), {
      ssh_public_key: "ssh-ed25519 AAAA k",
    });
  });

  it("refuses, saying what to set, when the tenancy or an existing VCN's subnet is unknown", () => {
    assert.throws(
      () => tofuVariables(withTarget(OCI), inputs({}, "[OTHER]\n")),
      /tenancy=.*\[DEFAULT\].*TF_VAR_tenancy_ocid/,
    );
    const inVcn = withTarget("{ kind: oci, region: r, vcnId: ocid1.vcn.oc1..v }");
    assert.throws(() => tofuVariables(inVcn, inputs()), /TF_VAR_subnet_cidr/);
    assert.equal(
      tofuVariables(inVcn, inputs({ TF_VAR_subnet_cidr: "10.0.42.0/24" })).tenancy_ocid,
      "ocid1.tenancy.oc1..default",
    );
  });
});

describe("OCI capacity retry", () => {
  it("recognises OCI's answer in Terraform's output, and nothing else", () => {
    assert.ok(
      isOutOfCapacity(
        "Error: 500-InternalError, Out of host capacity.\nSuggestion: The service for this resource encountered an error.",
      ),
    );
    assert.ok(!isOutOfCapacity("Error: 404-NotAuthorizedOrNotFound, Authorization failed"));
  });

  it("rotates through the ADs at once, backs off after each full round, and stops at the limit", () => {
    const s = capacitySchedule({ maxAttempts: 8, ads: 3, waitSeconds: 60, maxWaitSeconds: 200 });
    assert.deepEqual(
      s.map((a) => [a.attempt, a.adIndex, a.waitSeconds]),
      [
        [1, 0, 0],
        [2, 1, 0],
        [3, 2, 0],
        [4, 0, 60],
        [5, 1, 0],
        [6, 2, 0],
        [7, 0, 120],
        [8, 1, 0],
      ],
    );
    // Starts where the instance already is, so a re-run never moves it.
    assert.deepEqual(
      capacitySchedule({ maxAttempts: 3, ads: 3, waitSeconds: 1, maxWaitSeconds: 1 }, 2).map(
        (a) => a.adIndex,
      ),
      [2, 0, 1],
    );
    // A single-AD region waits between every try; the cap holds.
    assert.deepEqual(
      capacitySchedule({ maxAttempts: 5, ads: 1, waitSeconds: 60, maxWaitSeconds: 200 }).map(
        (a) => a.waitSeconds,
      ),
      [0, 60, 120, 200, 200],
    );
    assert.equal(capacitySchedule({ maxAttempts: 0, ads: 3, waitSeconds: 0, maxWaitSeconds: 0 }).length, 1);
  });
});

describe("deploy secrets", () => {
  const ENV = {
    OPENAI_API_KEY: "sk-real-openai",
    TELEGRAM_BOT_TOKEN: "123:real-telegram",
    TS_AUTHKEY: "tskey-real",
  };

  it("gives each secret a file under /etc/moat-secrets; Tailscale's is host apply's own root-only file", () => {
    const p = secretPlacements(specFrom());
    assert.deepEqual(
      p.map((x) => [x.field, x.vmPath, x.forGateway]),
      [
        ["llm[0].apiKey", "/etc/moat-secrets/llm-main-api-key", true],
        ["messengers.telegram.botToken", "/etc/moat-secrets/telegram-bot-token", true],
        ["access.tailscale.authKey", TAILSCALE_AUTHKEY_FILE, false],
      ],
    );
  });

  it("rewrites the VM's spec to those files, keeps the rest, and it still parses to the same deployment", () => {
    const spec = specFrom();
    const text = vmSpecText(EXAMPLE_YAML, secretPlacements(spec));
    const r = parseSpec(text);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.deepEqual(r.spec.llm[0]?.apiKey, { file: "/etc/moat-secrets/llm-main-api-key" });
    assert.deepEqual(r.spec.messengers.telegram?.botToken, { file: "/etc/moat-secrets/telegram-bot-token" });
    assert.deepEqual(r.spec.access.tailscale?.authKey, { file: TAILSCALE_AUTHKEY_FILE });
    const strip = (s: Record<string, unknown>) =>
      JSON.stringify({ ...s, llm: [], messengers: {}, access: {} });
    assert.equal(strip(r.spec as never), strip(spec as never));
    assert.deepEqual(parse(text).egress, parse(EXAMPLE_YAML).egress);
    for (const v of Object.values(ENV)) assert.ok(!text.includes(v));
  });

  it("reads every value on the operator's machine, naming the field of one that is missing", () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-deploy-unit-"));
    writeFileSync(join(dir, "tg"), "123:from-a-file\n");
    const spec = specFrom(
      EXAMPLE_YAML.replace("{ env: TELEGRAM_BOT_TOKEN }", `{ file: ${join(dir, "tg")} }`),
    );
    const values = readDeploySecrets(spec, ENV);
    assert.deepEqual(
      values.map((v) => v.value),
      ["sk-real-openai", "123:from-a-file", "tskey-real"],
    );
    assert.throws(
      () => readDeploySecrets(spec, { ...ENV, TS_AUTHKEY: "" }),
      /access\.tailscale\.authKey: environment variable TS_AUTHKEY/,
    );
    assert.throws(() => readDeploySecrets(spec, { ...ENV, OPENAI_API_KEY: "a\nb" }), SecretUnavailable);
  });

  it("writes a secret from stdin only: the script names the file, never the value", () => {
    const spec = specFrom();
    const [llm, , ts] = readDeploySecrets(spec, ENV);
    assert.ok(llm && ts);
    const script = secretScript(llm, spec);
    assert.ok(!script.includes(llm.value));
    assert.match(script, /umask 077\ncat > '\/etc\/moat-secrets\/llm-main-api-key\.moat-new'/);
    assert.match(script, /chgrp 'moat-gateway'.*chmod 0640/);
    assert.doesNotMatch(secretScript(ts, spec), /chgrp|0640/);
  });
});

describe("known hosts", () => {
  const blob = (type: string, body: string) => {
    const t = Buffer.from(type);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(t.length);
    return Buffer.concat([len, t, Buffer.from(body)]);
  };
  const a = keyFromBlob(blob("ssh-ed25519", "key-a"));
  const b = keyFromBlob(blob("ssh-ed25519", "key-b"));

  it("spells hosts like OpenSSH and reads the key type from the blob", () => {
    assert.equal(hostPattern("203.0.113.7", 22), "203.0.113.7");
    assert.equal(hostPattern("203.0.113.7", 2222), "[203.0.113.7]:2222");
    assert.equal(a.type, "ssh-ed25519");
    assert.match(fingerprint(a), /^SHA256:[A-Za-z0-9+/]+$/);
  });

  it("trusts on first use, then accepts the same key and refuses another", () => {
    const file = join(mkdtempSync(join(tmpdir(), "moat-kh-")), "known_hosts");
    const kh = new KnownHosts(file);
    assert.equal(kh.check("h", 22, a), "new");
    assert.equal(kh.check("h", 22, a), "known");
    assert.equal(kh.check("h", 2222, b), "new");
    assert.throws(() => kh.check("h", 22, b), HostKeyMismatch);
    assert.equal(judgeHostKey(readFileSync(file, "utf8"), "h", b), "mismatch");
    assert.deepEqual(kh.pinned("h", 22), ["ssh-ed25519"]);
    kh.forget();
    assert.equal(kh.check("h", 22, b), "new");
  });
});

describe("remote facts", () => {
  it("parses what the facts script prints and prefers cloud-init's Node", () => {
    const f = parseFacts(
      "cloud-init=done\npackage=abc\nimage=\nnode=/opt/moat/node/bin/node v22.12.0\nnode=/usr/bin/node v18.19.0\n",
    );
    assert.equal(f.cloudInitDone, true);
    assert.equal(f.packageSha256, "abc");
    assert.equal(f.imageSha256, "");
    assert.equal(pickNode(f), "/opt/moat/node/bin/node");
  });

  it("refuses an old Node or none, saying what to install", () => {
    assert.equal(pickNode(parseFacts("node=/usr/bin/node v20.19.0\n")), "/usr/bin/node");
    assert.throws(
      () => pickNode(parseFacts("node=/usr/bin/node v18.19.0\n")),
      /found \/usr\/bin\/node v18\.19\.0.*install/,
    );
    assert.throws(() => pickNode(parseFacts("package=\n")), RemoteUnfit);
  });

  it("quotes every word of a remote command", () => {
    assert.equal(commandLine(["echo", "it's", "a b"]), `'echo' 'it'\\''s' 'a b'`);
  });
});

describe("finding tofu", () => {
  it("prefers tofu, falls back to terraform, and says what to install when neither is there", () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-tofu-"));
    const one = join(dir, "one");
    const two = join(dir, "two");
    mkdirSync(one);
    mkdirSync(two);
    writeFileSync(join(two, "terraform"), "#!/bin/sh\n");
    chmodSync(join(two, "terraform"), 0o755);
    assert.equal(findTofu({ PATH: `${one}:${two}` }), join(two, "terraform"));
    writeFileSync(join(one, "tofu"), "#!/bin/sh\n");
    chmodSync(join(one, "tofu"), 0o755);
    assert.equal(findTofu({ PATH: `${two}:${one}` }), join(one, "tofu"));
    assert.throws(() => findTofu({ PATH: dir }), TofuMissing);
    assert.throws(() => findTofu({ PATH: dir }), /opentofu\.org/);
  });
});
