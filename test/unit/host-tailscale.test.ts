// Tailscale in host apply's access step, planned purely: the signing key checked against its
// pinned fingerprint (the keys gpg makes are in test/tools/openpgp-gpg.test.ts), the repository line, `tailscale up`
// with the key read from a root-only file, serve, and the SSH lockdown loaded only after
// tailscale reports Running. Each check has a negative control.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planGateway } from "../../src/host/steps/gateway.js";
import {
  planTailscale,
  TAILSCALE_KEYRING,
  TAILSCALE_SOURCE,
  tailscaleProblems,
} from "../../src/host/steps/tailscale.js";
import type { Action } from "../../src/host/types.js";
import { TAILSCALE_AUTHKEY_FILE } from "../../src/render/paths.js";
import { renderSshLockdown, sshLockdownRules } from "../../src/render/ssh-lockdown.js";
import { specFrom } from "../helpers.js";
import {
  AUTH_KEY,
  absent,
  context,
  converged,
  file,
  fresh,
  SERVING,
  TS,
  yaml,
} from "../support/tailscale-host.js";

const describeAction = (a: Action) =>
  a.kind === "run"
    ? `run ${a.argv.slice(0, 3).join(" ")}`
    : a.kind === "write"
      ? `write ${a.file.path}`
      : a.kind;

describe("host apply: Tailscale plan", () => {
  it("on a fresh host: pinned key, source line, install, key file, up, serve, then wait for Running, then lockdown", () => {
    const ctx = context();
    const plan = planTailscale(ctx, fresh());
    assert.deepEqual(plan.map(describeAction), [
      "fetch-key",
      `write ${TAILSCALE_SOURCE}`,
      "run apt-get update -qq",
      "run apt-get install -y",
      "run systemctl enable tailscaled.service",
      "run systemctl start tailscaled.service",
      `write ${TAILSCALE_AUTHKEY_FILE}`,
      "run tailscale up --auth-key=file:/etc/moat-secrets/tailscale-authkey",
      "record",
      "run tailscale serve --bg",
      "await",
      "write /etc/moat/nftables/ssh-lockdown.nft",
      "write /etc/systemd/system/moat-ssh-lockdown.service",
      "run systemctl daemon-reload",
      "run systemctl enable moat-ssh-lockdown.service",
      "run systemctl start moat-ssh-lockdown.service",
    ]);
    const fetch = plan[0] as Extract<Action, { kind: "fetch-key" }>;
    assert.equal(fetch.url, "https://pkgs.tailscale.com/stable/debian/trixie.noarmor.gpg");
    assert.equal(fetch.fingerprint, "2596A99EAAB33821893C0A79458CA832957F5868");
    assert.equal(fetch.file.path, TAILSCALE_KEYRING);
    const source = plan[1] as Extract<Action, { kind: "write" }>;
    assert.equal(
      source.file.content,
      "deb [signed-by=/usr/share/keyrings/tailscale-archive-keyring.gpg] https://pkgs.tailscale.com/stable/debian trixie main\n",
    );
    const keyFile = plan[6] as Extract<Action, { kind: "write" }>;
    assert.deepEqual(
      [keyFile.file.mode, keyFile.file.owner, keyFile.file.group, keyFile.file.secret],
      [0o600, "root", "root", true],
    );
    const up = plan[7] as Extract<Action, { kind: "run" }>;
    assert.deepEqual(up.argv, [
      "tailscale",
      "up",
      "--auth-key=file:/etc/moat-secrets/tailscale-authkey",
      "--hostname=unit-agent",
      "--advertise-tags=tag:agent",
      "--ssh",
      "--reset",
      "--timeout=120s",
    ]);
    const serve = plan[9] as Extract<Action, { kind: "run" }>;
    assert.deepEqual(serve.argv, [
      "tailscale",
      "serve",
      "--bg",
      "--yes",
      "--https=443",
      "http://127.0.0.1:8080",
    ]);
    // The key is in exactly one place of the plan: the root-only file's content.
    const withoutKeyFile = plan.filter((a) => a !== keyFile);
    assert.doesNotMatch(JSON.stringify(withoutKeyFile), new RegExp(AUTH_KEY));
    const awaitRunning = plan[10] as Extract<Action, { kind: "await" }>;
    assert.match('{\n  "BackendState": "Running",', new RegExp(awaitRunning.match));
    assert.doesNotMatch('{\n  "BackendState": "NeedsLogin",', new RegExp(awaitRunning.match));
  });

  it("changes nothing on a converged host", () => {
    const ctx = context();
    // The pinned key cannot be made here; a keyring-less host where Tailscale came preinstalled
    // with Moat's source line exercises the same no-op path past the keyring check.
    const seen = { ...converged(ctx, Buffer.alloc(0)), keyring: null };
    assert.deepEqual(planTailscale(ctx, { ...seen, source: absent(TAILSCALE_SOURCE) }), []);
  });

  it("a Tailscale installed by the image keeps its own source; Moat's source gets the pinned key", () => {
    const ctx = context();
    const seen = { ...converged(ctx, Buffer.alloc(0)), keyring: null };
    const withSource = planTailscale(ctx, seen).map(describeAction);
    assert.deepEqual(withSource, ["fetch-key"], "Moat's source without its key: fetch the pinned key");
  });

  it("flags changed in the spec run `tailscale up` again; a node not Running runs it and waits before a lockdown reload", () => {
    const ctx = context(yaml("  tailscale: { authKey: { env: TS_AUTHKEY }, hostname: other, ssh: false }"));
    const seen = {
      ...converged(context(), Buffer.alloc(0)),
      keyring: null,
      source: absent(TAILSCALE_SOURCE),
    };
    const plan = planTailscale(ctx, seen);
    const up = plan.find((a) => a.kind === "run" && a.argv[1] === "up") as Extract<Action, { kind: "run" }>;
    assert.ok(up.argv.includes("--hostname=other"));
    assert.ok(!up.argv.includes("--ssh"));
    const stopped = planTailscale(context(), {
      ...seen,
      status: { BackendState: "Stopped" },
      lockdownLive: false,
    });
    const order = stopped.map(describeAction);
    assert.ok(order.indexOf("await") > order.findIndex((a) => a.startsWith("run tailscale up")));
    assert.ok(order.indexOf("run systemctl reload moat-ssh-lockdown.service") > order.indexOf("await"));
  });

  it("without the auth key: fails when it must join, carries on when the installed key file is there", () => {
    const ctx = context();
    const noKey = { ...fresh(), authKey: null, authKeyError: "environment variable TS_AUTHKEY is not set" };
    const plan = planTailscale(ctx, noKey);
    const fail = plan.find((a) => a.kind === "fail");
    assert.match(JSON.stringify(fail), /TS_AUTHKEY is not set/);
    assert.ok(!plan.some((a) => a.kind === "run" && a.argv[1] === "up"), "no up without a key");
    assert.ok(!plan.some((a) => a.kind === "run" && a.argv.includes("moat-ssh-lockdown.service")));
    const kept = planTailscale(ctx, { ...noKey, keyFile: file(TAILSCALE_AUTHKEY_FILE, "k\n", 0o600) });
    assert.ok(!kept.some((a) => a.kind === "fail"));
    assert.ok(kept.some((a) => a.kind === "run" && a.argv[1] === "up"));
  });

  it("serve: false resets a serve config; the lockdown goes when access.tailscale is removed", () => {
    const noServe = context(
      yaml("  tailscale: { authKey: { env: TS_AUTHKEY }, hostname: unit-agent, serve: false }"),
    );
    const seen = { ...converged(noServe, Buffer.alloc(0)), keyring: null, source: absent(TAILSCALE_SOURCE) };
    assert.deepEqual(planTailscale(noServe, seen).map(describeAction), ["run tailscale serve reset"]);
    const without = context(yaml(""));
    assert.deepEqual(planTailscale(without, seen).map(describeAction), [
      "run systemctl disable --now",
      "run rm -f /etc/moat/nftables/ssh-lockdown.nft",
      "run systemctl daemon-reload",
    ]);
    assert.deepEqual(planTailscale(without, fresh()), []);
  });

  it("live checks: each missing piece is named", () => {
    const ctx = context();
    const good = {
      keyring: null,
      status: { BackendState: "Running" },
      serve: SERVING,
      keyFile: file(TAILSCALE_AUTHKEY_FILE, "k\n", 0o600),
      lockdown: 'table inet moat_ssh {\n iifname { "lo", "tailscale0" } accept\n counter drop\n}',
    };
    assert.deepEqual(tailscaleProblems(ctx.spec, good), []);
    assert.match(
      tailscaleProblems(ctx.spec, { ...good, status: { BackendState: "NeedsLogin" } }).join(),
      /NeedsLogin/,
    );
    assert.match(tailscaleProblems(ctx.spec, { ...good, serve: {} }).join(), /does not serve/);
    assert.match(tailscaleProblems(ctx.spec, { ...good, lockdown: null }).join(), /public SSH is open/);
    assert.match(
      tailscaleProblems(ctx.spec, { ...good, keyFile: file(TAILSCALE_AUTHKEY_FILE, "k\n", 0o640) }).join(),
      /root only/,
    );
    assert.match(tailscaleProblems(context(yaml("")).spec, good).join(), /loaded without Tailscale/);
  });

  it("the gateway's secret file never holds the Tailscale key", () => {
    const ctx = context(yaml(TS));
    const plan = planGateway(ctx, {
      files: new Map(),
      dirs: new Map(),
      secretFiles: [],
      envValues: { TS_AUTHKEY: AUTH_KEY },
      units: {},
    });
    assert.ok(!plan.some((a) => a.kind === "fail"), JSON.stringify(plan));
    assert.doesNotMatch(JSON.stringify(plan), new RegExp(AUTH_KEY));
  });
});

describe("ssh lockdown renderer", () => {
  it("drops new tcp/22 except lo, tailscale0 and allowFrom (as network addresses), only with Tailscale", () => {
    const spec = specFrom(yaml(TS, "[203.0.113.7/24, '2001:db8::5/64']"));
    const rules = sshLockdownRules(spec);
    assert.match(rules, /tcp dport != 22 accept/);
    assert.match(rules, /ct state != new accept/);
    assert.match(rules, /iifname \{ "lo", "tailscale0" \} accept/);
    assert.match(rules, /elements = \{ 203\.0\.113\.0\/24 \}/);
    assert.match(rules, /elements = \{ 2001:db8::\/64 \}/);
    assert.match(rules, /counter drop/);
    assert.doesNotMatch(rules, /flush ruleset/);
    assert.deepEqual(renderSshLockdown(specFrom(yaml(""))), []);
    assert.equal(renderSshLockdown(spec).length, 2);
  });
});
