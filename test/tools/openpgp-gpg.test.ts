// OpenPGP keyring fingerprints read by src/host/openpgp.ts against keys the real gpg makes here
// (tools tier: needs gnupg; the Tailscale plan's pure cases are in test/unit/host-tailscale.test.ts).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { keyringProblems, primaryKeyFingerprints } from "../../src/host/openpgp.js";
import {
  planTailscale,
  TAILSCALE_KEY_FINGERPRINT,
  tailscaleProblems,
} from "../../src/host/steps/tailscale.js";
import { TAILSCALE_AUTHKEY_FILE } from "../../src/render/paths.js";
import { context, converged, file, SERVING } from "../support/tailscale-host.js";

// Keys made here with gpg: one with a subkey, one more to make a two-key ring.
let gnupg = "";
let keyA: { fpr: string; binary: Buffer; armored: Buffer };
let keyB: { fpr: string; binary: Buffer };
function makeKey(uid: string): { fpr: string; binary: Buffer; armored: Buffer } {
  const gpg = (...args: string[]) =>
    execFileSync("gpg", ["--homedir", gnupg, "--batch", "--quiet", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
  gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never");
  const colons = gpg("--with-colons", "--list-keys", uid).toString();
  const fpr =
    colons
      .split("\n")
      .find((l) => l.startsWith("fpr:"))
      ?.split(":")[9] ?? "";
  gpg("--passphrase", "", "--quick-add-key", fpr, "cv25519", "encr", "never");
  return { fpr, binary: gpg("--export", fpr), armored: gpg("--armor", "--export", fpr) };
}

describe("OpenPGP keyring fingerprints", () => {
  before(() => {
    gnupg = mkdtempSync(join(tmpdir(), "moat-gpg-"));
    keyA = makeKey("Moat Test A <a@example.test>");
    keyB = makeKey("Moat Test B <b@example.test>");
  });
  after(() => rmSync(gnupg, { recursive: true, force: true }));

  it("reads the primary key's fingerprint as gpg does, binary and armored, subkeys aside", () => {
    assert.match(keyA.fpr, /^[0-9A-F]{40}$/);
    assert.deepEqual(primaryKeyFingerprints(keyA.binary), [keyA.fpr]);
    assert.deepEqual(primaryKeyFingerprints(keyA.armored), [keyA.fpr]);
    assert.deepEqual(keyringProblems(keyA.binary, keyA.fpr), []);
    assert.deepEqual(keyringProblems(keyA.armored, keyA.fpr.toLowerCase().replace(/(.{4})/g, "$1 ")), []);
  });

  it("negative controls: a different key, an extra key, garbage and nothing are refused", () => {
    assert.match(
      keyringProblems(keyA.binary, TAILSCALE_KEY_FINGERPRINT).join(),
      new RegExp(`holds key ${keyA.fpr}, not the pinned`),
    );
    assert.match(keyringProblems(keyA.binary, keyB.fpr).join(), /refused/);
    const both = Buffer.concat([keyA.binary, keyB.binary]);
    assert.match(keyringProblems(both, keyA.fpr).join(), new RegExp(keyB.fpr));
    assert.match(
      keyringProblems(Buffer.from("<html>not a key</html>"), keyA.fpr).join(),
      /not a readable OpenPGP keyring/,
    );
    assert.match(keyringProblems(keyA.binary.subarray(0, 20), keyA.fpr).join(), /truncated/);
    assert.match(keyringProblems(Buffer.alloc(0), keyA.fpr).join(), /no public key/);
  });

  it("a keyring already on the host with another key stops the step; the pinned one passes", () => {
    const ctx = context();
    const wrong = planTailscale(ctx, converged(ctx, keyA.binary));
    assert.equal(wrong.length, 1);
    assert.equal(wrong[0]?.kind, "fail");
    assert.match(JSON.stringify(wrong), /not the pinned 2596A99EAAB33821893C0A79458CA832957F5868/);
    assert.match(
      tailscaleProblems(ctx.spec, {
        keyring: keyA.binary,
        status: { BackendState: "Running" },
        serve: SERVING,
        keyFile: file(TAILSCALE_AUTHKEY_FILE, "k\n", 0o600),
        lockdown: 'table inet moat_ssh { iifname { "lo", "tailscale0" } accept drop }',
      }).join(),
      /not the pinned/,
    );
  });
});
