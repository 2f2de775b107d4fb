import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { judgeAnswers } from "../../src/verify/checks/answers.js";
import { CHECKS } from "../../src/verify/checks/index.js";

describe("verify: the agent's listeners answer no one", () => {
  it("passes when no listener answered, however the connection failed", () => {
    const v = judgeAnswers([
      { uid: 2000, port: 40001, outcome: "timeout" },
      { uid: 1000005, port: 40002, outcome: "ECONNRESET" },
    ]);
    assert.equal(v.status, "pass");
    assert.equal(v.detail, "no answer: uid 2000 (timeout), uid 1000005 (ECONNRESET)");
  });

  it("fails naming each listener that answered, with the firewall as the fix", () => {
    const v = judgeAnswers([
      { uid: 2000, port: 40001, outcome: "answered" },
      { uid: 1000005, port: 40002, outcome: "timeout" },
    ]);
    assert.equal(v.status, "fail");
    assert.equal(v.detail, "answered a connection it did not open: uid 2000 on 127.0.0.1:40001");
    assert.match(v.fix ?? "", /moat host apply --only firewall/);
  });

  it("is one of moat verify's required checks", () => {
    const check = CHECKS.find((c) => c.id === "net.agent-answers");
    assert.ok(check?.required);
  });
});
