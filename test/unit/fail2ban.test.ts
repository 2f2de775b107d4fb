import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderFail2ban } from "../../src/render/fail2ban.js";
import { specFrom } from "../helpers.js";

const jail = (yaml?: string) => renderFail2ban(specFrom(yaml))[0]?.content ?? "";

describe("fail2ban sshd jail", () => {
  it("is a jail.d drop-in enabling sshd on the journal", () => {
    const [a] = renderFail2ban(specFrom());
    assert.equal(a?.kind, "fail2ban");
    assert.equal(a?.path, "fail2ban/moat-sshd.local");
    const lines = (a?.content ?? "").split("\n");
    for (const l of [
      "[sshd]",
      "enabled = true",
      "backend = systemd",
      "ignoreip = 127.0.0.1/8 ::1",
      "port = ssh",
    ]) {
      assert.ok(lines.includes(l), l);
    }
  });

  it("watches the ssh target's own port", () => {
    assert.match(
      jail("version: 1\nname: t\ntarget: { kind: ssh, host: h.example.com, port: 2222 }\n"),
      /^port = 2222$/m,
    );
  });

  it("is deterministic", () => assert.equal(jail(), jail()));
});
