import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { renderSshd, sshdMismatches, sshLoginUsers } from "../../src/render/sshd.js";
import { specFrom } from "../helpers.js";

const SSH_ROOT = `
version: 1
name: t
target: { kind: ssh, host: vm.example.com }
`;
const OCI_WITH_USERS = `
version: 1
name: t
target: { kind: oci, region: eu-frankfurt-1 }
access: { sshUsers: [alice, bob] }
`;
const dropIn = (yaml?: string) => renderSshd(specFrom(yaml))[0]?.content ?? "";
const line = (text: string, key: string) => text.split("\n").find((l) => l.startsWith(`${key} `));

describe("sshd drop-in", () => {
  it("is a keys-only drop-in at sshd/50-moat.conf", () => {
    const [a] = renderSshd(specFrom());
    assert.equal(a?.kind, "sshd");
    assert.equal(a?.path, "sshd/50-moat.conf");
    const text = a?.content ?? "";
    for (const l of [
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "AuthenticationMethods publickey",
      "X11Forwarding no",
      "AllowAgentForwarding no",
      "AllowTcpForwarding no",
    ]) {
      assert.ok(text.split("\n").includes(l), l);
    }
    assert.doesNotMatch(text, /^\s*Match\b/m);
  });

  it("refuses root and allows the image's user on clouds", () => {
    const text = dropIn();
    assert.equal(line(text, "PermitRootLogin"), "PermitRootLogin no");
    assert.equal(line(text, "AllowUsers"), "AllowUsers ubuntu");
  });

  it("lets root in with a key only when root is the ssh target's deploy user", () => {
    const text = dropIn(SSH_ROOT);
    assert.equal(line(text, "PermitRootLogin"), "PermitRootLogin prohibit-password");
    assert.equal(line(text, "AllowUsers"), "AllowUsers root");
    assert.match(text, /# root is an allowed login user/);
  });

  it("uses access.sshUsers when given", () => {
    assert.deepEqual(sshLoginUsers(specFrom(OCI_WITH_USERS)), ["alice", "bob"]);
    assert.equal(line(dropIn(OCI_WITH_USERS), "AllowUsers"), "AllowUsers alice bob");
    assert.equal(line(dropIn(OCI_WITH_USERS), "PermitRootLogin"), "PermitRootLogin no");
  });

  it("is deterministic", () => {
    assert.equal(dropIn(SSH_ROOT), dropIn(SSH_ROOT));
  });
});

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
