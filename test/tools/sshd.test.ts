// The rendered sshd drop-in against the real sshd and ssh-keygen (tools tier: needs openssh-server;
// the renderer's pure cases are in test/unit/sshd.test.ts).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { renderSshd, sshdMismatches } from "../../src/render/sshd.js";
import { specFrom } from "../helpers.js";
import { OCI_WITH_USERS, SSH_ROOT } from "../support/sshd-specs.js";

// The real sshd parses a throwaway main config that Includes the drop-in, as Debian's does.
describe("sshd drop-in against the real sshd (sshd -t / -T)", () => {
  const dir = mkdtempSync(join(tmpdir(), "moat-sshd-"));
  before(() => {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "hostkey")]);
    // sshd refuses to start, even in test mode, without its privilege-separation directory;
    // openssh-server's unit creates it at boot the same way.
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // Earlier drop-ins win in sshd; `earlier` imitates one sorting before ours.
  const sshd = (mode: "-t" | "-T", dropInText: string, earlier = "") => {
    writeFileSync(join(dir, "40-earlier.conf"), earlier);
    writeFileSync(join(dir, "50-moat.conf"), dropInText);
    const main = join(dir, "sshd_config");
    writeFileSync(
      main,
      `Include ${dir}/*.conf\nHostKey ${join(dir, "hostkey")}\nPasswordAuthentication yes\n`,
    );
    return execFileSync("sshd", [mode, "-f", main], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  };

  for (const [name, yaml] of [
    ["example", undefined],
    ["ssh as root", SSH_ROOT],
    ["oci with sshUsers", OCI_WITH_USERS],
  ] as const) {
    it(`passes sshd -t and is in force in sshd -T (${name})`, () => {
      const spec = specFrom(yaml);
      const text = renderSshd(spec)[0]?.content ?? "";
      assert.doesNotThrow(() => sshd("-t", text));
      const effective = sshd("-T", text);
      assert.deepEqual(sshdMismatches(spec, effective), []);
      assert.match(effective, /^kexalgorithms .*sntrup761x25519-sha512@openssh\.com/m);
    });
  }

  it("negative control: naming mlkem768x25519-sha256 outright breaks this sshd, the removal list does not", () => {
    assert.throws(
      () => sshd("-t", "KexAlgorithms mlkem768x25519-sha256,curve25519-sha256\n"),
      /KexAlgorithms/,
    );
    assert.doesNotThrow(() => sshd("-t", "KexAlgorithms -mlkem768x25519-sha256,ecdh-sha2-*\n"));
  });

  it("negative control: the effective check sees an earlier drop-in that re-enables passwords", () => {
    const spec = specFrom();
    const text = renderSshd(spec)[0]?.content ?? "";
    const effective = sshd(
      "-T",
      text,
      "PasswordAuthentication yes\nKexAlgorithms +diffie-hellman-group14-sha1\n",
    );
    const problems = sshdMismatches(spec, effective);
    assert.ok(
      problems.some((p) => p.startsWith("passwordauthentication is yes")),
      problems.join("; "),
    );
    assert.ok(
      problems.some((p) => p.includes("diffie-hellman-group14-sha1")),
      problems.join("; "),
    );
  });
});
