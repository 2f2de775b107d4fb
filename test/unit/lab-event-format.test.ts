// `moat lab logs --cloud`: each kind of request the lab's cloud logs, as a readable line that
// names whether a credential came, never the credential itself.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatCloudEvent } from "../../src/lab/event-format.js";

const at = "2026-12-03T16:22:53.123Z";
const CASES: [string, object, string][] = [
  ["ready", { kind: "ready", flavour: "oci" }, "cloud services up (oci flavour)"],
  [
    "metadata",
    { kind: "metadata", from: "10.0.0.2", method: "GET", path: "/opc/v2/instance/", status: 401 },
    "GET /opc/v2/instance/ from 10.0.0.2 → 401",
  ],
  ["dns", { kind: "dns", name: "api.openai.com", type: "A" }, "A api.openai.com"],
  [
    "llm",
    {
      kind: "llm",
      shape: "openai",
      path: "/v1/chat/completions",
      credential: "sk-lab-real",
      body: { model: "gpt-5.4", messages: ["secret prompt"] },
    },
    "openai /v1/chat/completions model gpt-5.4, with a credential",
  ],
  [
    "telegram",
    { kind: "telegram", method: "sendMessage", token: "123:abc", params: { chat_id: 42, text: "hi" } },
    "sendMessage chat 42",
  ],
  [
    "site",
    { kind: "site", site: "unlisted", address: "203.0.113.80", port: 443, method: "GET", path: "/" },
    "unlisted site 203.0.113.80:443 GET /",
  ],
  ["unknown kind", { kind: "other", a: 1, b: "x" }, "a=1 b=x"],
];

describe("moat lab logs --cloud", () => {
  for (const [name, event, detail] of CASES)
    test(name, () => {
      const kind = (event as { kind: string }).kind;
      const line = formatCloudEvent(JSON.stringify({ at, ...event }));
      assert.equal(line, `2026-12-03 16:22:53Z  ${kind.padEnd(8)}  ${detail}`);
      assert.ok(
        !line?.includes("sk-lab-real") && !line?.includes("123:abc") && !line?.includes("secret prompt"),
      );
    });

  test("a path the agent chose is escaped; a line that is not JSON is skipped", () => {
    const line = formatCloudEvent(
      JSON.stringify({
        at,
        kind: "site",
        site: "allowlisted",
        address: "a",
        port: 80,
        method: "GET",
        path: "/\x1b[2J",
      }),
    );
    assert.match(line ?? "", /GET \/\\x1b\[2J$/);
    assert.equal(formatCloudEvent("nope"), undefined);
  });
});
