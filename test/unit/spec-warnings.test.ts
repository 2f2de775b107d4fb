// moat validate's warnings: an egress.allow entry covering a host the gateway's own routes serve.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { specWarnings } from "../../src/spec/warnings.js";
import { specFrom } from "../helpers.js";

const spec = (allow: string) =>
  specFrom(`
version: 1
name: warn
target: { kind: lab }
agent: { profile: custom, image: "ghcr.io/acme/agent:1.0", writablePaths: [/tmp] }
llm:
  - { name: gpt, kind: openai, apiKey: { env: O }, models: [gpt-5.4] }
messengers:
  telegram: { botToken: { env: T }, allowFrom: [1] }
egress:
  allow: ${allow}
`);

describe("specWarnings", () => {
  test("nothing for hosts the gateway does not serve", () => {
    assert.deepEqual(specWarnings(spec("[example.com, '*.github.com']")), []);
  });

  test("each entry that covers an implied host, by exact name or wildcard, named by its index", () => {
    const w = specWarnings(
      spec("[example.com, api.telegram.org, '*.openai.com', '*.githubusercontent.com']"),
    );
    assert.deepEqual(
      w.map((x) => x.path),
      ["egress.allow[1]", "egress.allow[2]", "egress.allow[3]"],
    );
    assert.match(
      w[0]?.message ?? "",
      /^api\.telegram\.org covers api\.telegram\.org \(\/telegram, for messengers\.telegram\)/,
    );
    assert.match(w[1]?.message ?? "", /api\.openai\.com \(\/llm\/gpt, for llm\[0\]\)/);
    assert.match(
      w[2]?.message ?? "",
      /pkg-containers\.githubusercontent\.com \(host apply's image pull, for agent\.image\)/,
    );
    assert.match(w[0]?.message ?? "", /reach it directly with credentials of its own/);
  });

  test("a model Moat cannot price, named by its index, unless llm[].prices names it", () => {
    const unpriced = (prices: string) =>
      specWarnings(
        specFrom(`
version: 1
name: warn
target: { kind: lab }
agent: { profile: custom, image: "ghcr.io/acme/agent:1.0", writablePaths: [/tmp] }
llm:
  - { name: local, kind: openai-compatible, baseUrl: "https://llm.example.net/v1", apiKey: { env: K }, models: [gpt-5.4, my-model]${prices} }
`),
      );
    assert.deepEqual(
      unpriced("").map((w) => w.path),
      ["llm[0].models[1]"],
    );
    assert.match(
      unpriced("")[0]?.message ?? "",
      /my-model .* refuses calls to it until llm\[0\]\.prices names it/,
    );
    assert.deepEqual(unpriced(", prices: { my-model: { inputPerMTok: 0, outputPerMTok: 0 } }"), []);
  });
});
