import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { test } from "node:test";
import { swapCredential } from "../../src/gateway/llm/credential.js";
import type { LlmKind } from "../../src/spec/schema.js";

const PH = "moat-placeholder-llm-main";
const REAL = "sk-real-0123456789abcdef";

interface Row {
  name: string;
  kind: LlmKind;
  headers: IncomingHttpHeaders;
  // the header and value the provider must receive, or the refusal reason fragment
  expect: { header: string; value: string } | { refused: RegExp; real?: boolean };
}

const rows: Row[] = [
  {
    name: "anthropic placeholder",
    kind: "anthropic",
    headers: { "x-api-key": PH },
    expect: { header: "x-api-key", value: REAL },
  },
  {
    name: "openai bearer placeholder",
    kind: "openai",
    headers: { authorization: `Bearer ${PH}` },
    expect: { header: "authorization", value: `Bearer ${REAL}` },
  },
  {
    name: "bearer scheme any case",
    kind: "openrouter",
    headers: { authorization: `bearer ${PH}` },
    expect: { header: "authorization", value: `Bearer ${REAL}` },
  },
  {
    name: "openai-compatible",
    kind: "openai-compatible",
    headers: { authorization: `Bearer ${PH}` },
    expect: { header: "authorization", value: `Bearer ${REAL}` },
  },
  {
    name: "gemini header",
    kind: "gemini",
    headers: { "x-goog-api-key": PH },
    expect: { header: "x-goog-api-key", value: REAL },
  },
  {
    name: "placeholder also in a second header",
    kind: "anthropic",
    headers: { "x-api-key": PH, authorization: `Bearer ${PH}` },
    expect: { header: "x-api-key", value: REAL },
  },
  {
    name: "no credential",
    kind: "anthropic",
    headers: {},
    expect: { refused: /no placeholder credential in x-api-key or authorization/ },
  },
  {
    name: "anthropic SDK 1.x: placeholder as a Bearer token",
    kind: "anthropic",
    headers: { authorization: `Bearer ${PH}` },
    expect: { header: "authorization", value: `Bearer ${REAL}` },
  },
  {
    name: "placeholder in a header this provider does not read",
    kind: "openai",
    headers: { "x-api-key": PH },
    expect: { refused: /no placeholder credential in authorization/ },
  },
  {
    name: "gemini placeholder as a Bearer token",
    kind: "gemini",
    headers: { authorization: `Bearer ${PH}` },
    expect: { refused: /no placeholder credential in x-goog-api-key/ },
  },
  {
    name: "wrong token",
    kind: "openai",
    headers: { authorization: "Bearer sk-someone-elses-key" },
    expect: { refused: /does not carry/ },
  },
  {
    name: "real key presented",
    kind: "openai",
    headers: { authorization: `Bearer ${REAL}` },
    expect: { refused: /real key/, real: true },
  },
  {
    name: "real key in x-api-key",
    kind: "anthropic",
    headers: { "x-api-key": REAL },
    expect: { refused: /real key/, real: true },
  },
  {
    name: "real key smuggled in another header",
    kind: "anthropic",
    headers: { "x-api-key": PH, "x-goog-api-key": REAL },
    expect: { refused: /real key/, real: true },
  },
  {
    name: "extra own credential beside the placeholder",
    kind: "anthropic",
    headers: { "x-api-key": PH, authorization: "Bearer sk-ant-oat-xyz" },
    expect: { refused: /authorization does not carry/ },
  },
  {
    name: "placeholder prefix only",
    kind: "anthropic",
    headers: { "x-api-key": `${PH}x` },
    expect: { refused: /does not carry/ },
  },
  {
    name: "basic auth",
    kind: "openai",
    headers: { authorization: `Basic ${Buffer.from(`u:${PH}`).toString("base64")}` },
    expect: { refused: /does not carry/ },
  },
  {
    name: "proxy-authorization",
    kind: "openai",
    headers: { authorization: `Bearer ${PH}`, "proxy-authorization": "Bearer other" },
    expect: { refused: /proxy-authorization/ },
  },
  {
    name: "azure api-key",
    kind: "openai",
    headers: { authorization: `Bearer ${PH}`, "api-key": "azure-key" },
    expect: { refused: /api-key does not carry/ },
  },
];

for (const row of rows) {
  test(`swapCredential: ${row.name}`, () => {
    const r = swapCredential(row.headers, row.kind, PH, REAL);
    if ("header" in row.expect) {
      assert.ok(r.ok, r.ok ? "" : r.reason);
      assert.equal(r.headers[row.expect.header], row.expect.value);
      // The placeholder and every other credential header are gone.
      for (const [k, v] of Object.entries(r.headers)) {
        if (k !== row.expect.header) assert.ok(!String(v).includes(PH), `${k} still carries the placeholder`);
      }
    } else {
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.match(r.reason, row.expect.refused);
        assert.equal(r.realKeyPresented, row.expect.real ?? false);
        assert.ok(!r.reason.includes(REAL), "a refusal reason must not quote the key");
      }
    }
  });
}

test("swapCredential drops hop-by-hop, host and length, asks for identity encoding", () => {
  const r = swapCredential(
    {
      "x-api-key": PH,
      host: "198.18.0.1:3128",
      connection: "keep-alive, x-secret-hop",
      "x-secret-hop": "1",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      "content-length": "12",
      "accept-encoding": "gzip, br",
      "anthropic-version": "2023-06-01",
    },
    "anthropic",
    PH,
    REAL,
  );
  assert.ok(r.ok);
  assert.deepEqual(r.headers, {
    "x-api-key": REAL,
    "accept-encoding": "identity",
    "anthropic-version": "2023-06-01",
  });
});

test("swapCredential refuses a credential header sent twice", () => {
  const r = swapCredential({ "x-api-key": [PH, PH] as unknown as string }, "anthropic", PH, REAL);
  assert.equal(r.ok, false);
});
