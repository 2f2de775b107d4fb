import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderSshd, sshLoginUsers } from "../../src/render/sshd.js";
import { specFrom } from "../helpers.js";
import { OCI_WITH_USERS, SSH_ROOT } from "../support/sshd-specs.js";

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
