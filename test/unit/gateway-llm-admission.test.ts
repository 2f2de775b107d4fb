// admitLlmCall as a table: which calls an LLM route forwards, what it refuses and why, and the
// worst case it reserves before forwarding. Issue 13 item 4.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { compileAcl } from "../../src/gateway/acl.js";
import {
  type Admission,
  admitLlmCall,
  admitLlmHead,
  type HeadAdmission,
  type ProviderPolicy,
  type Refusal,
} from "../../src/gateway/llm/admission.js";
import { INFERENCE_ENDPOINTS } from "../../src/gateway/llm/endpoints.js";
import type { LlmProvider } from "../../src/spec/schema.js";

const provider = (p: Partial<LlmProvider> & Pick<LlmProvider, "kind" | "models">): LlmProvider => ({
  name: "p",
  apiKey: { env: "K" },
  ...p,
});

const OPENAI = provider({ kind: "openai", models: ["gpt-4o-mini", "gpt-5.4"] });
const ANTHROPIC = provider({ kind: "anthropic", models: ["claude-sonnet-4-5"] });
const GEMINI = provider({ kind: "gemini", models: ["gemini-2.5-flash"] });
const LOCAL = provider({
  kind: "openai-compatible",
  baseUrl: "http://10.1.2.3:8000/v1",
  models: ["qwen3", "unpriced"],
  prices: { qwen3: { inputPerMTok: 0, outputPerMTok: 0 } },
  allowPaths: ["GET /models", "POST /embeddings"],
});

// Base URLs the gateway must never send a key to: metadata never opens; a private range only
// where egress.allowCidrs opens it (the policy below opens 10.1.2.0/24 only).
const METADATA = provider({
  kind: "openai-compatible",
  baseUrl: "http://169.254.169.254/v1",
  models: ["qwen3"],
  prices: { qwen3: { inputPerMTok: 0, outputPerMTok: 0 } },
});
const CLOSED_LAN = { ...METADATA, baseUrl: "http://192.168.1.5:8000/v1" };
const LOCAL_NAME = { ...METADATA, baseUrl: "http://localhost:8000/v1" };

const policy = (providerHost: string): ProviderPolicy => ({
  field: "llm[0]",
  acl: compileAcl(["example.com", "*.docs.example.org"]),
  providerHost,
  // LOCAL's base URL is a private address the owner opened.
  allowCidrs: ["10.1.2.0/24"],
});

type Row = [
  name: string,
  p: LlmProvider,
  method: string,
  path: string,
  body: unknown,
  expect: RegExp | number,
];

// expect: a RegExp the refusal reason must match, or the reservation in USD.
const rows: Row[] = [
  // Where the key would go
  [
    "a base URL at the metadata address",
    METADATA,
    "POST",
    "/chat/completions",
    { model: "qwen3" },
    /^upstream 169\.254\.169\.254 is .*which never opens/,
  ],
  [
    "a private base URL outside egress.allowCidrs",
    CLOSED_LAN,
    "POST",
    "/chat/completions",
    { model: "qwen3" },
    /^upstream 192\.168\.1\.5 is private.*egress\.allowCidrs can open it/,
  ],
  [
    "a base URL with a local name",
    LOCAL_NAME,
    "POST",
    "/chat/completions",
    { model: "qwen3" },
    /^upstream localhost is a local name/,
  ],
  ["a private base URL inside egress.allowCidrs", LOCAL, "POST", "/chat/completions", { model: "qwen3" }, 0],
  // Endpoints
  [
    "chat completions",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: "gpt-4o-mini", max_tokens: 100 },
    (100 * 1.25 * 0.15 + 100 * 0.6) / 1e6,
  ],
  [
    "GET a file's content",
    OPENAI,
    "GET",
    "/files/file-abc/content",
    undefined,
    /GET \/files\/file-abc\/content is not an inference endpoint of openai.*llm\[0\]\.allowPaths/,
  ],
  ["DELETE a file", OPENAI, "DELETE", "/files/file-abc", undefined, /not an inference endpoint/],
  ["stored chat listing", OPENAI, "GET", "/chat/completions", undefined, /not an inference endpoint/],
  ["a stored response", OPENAI, "GET", "/responses/resp_1", undefined, /not an inference endpoint/],
  ["batches", OPENAI, "POST", "/batches", { input_file_id: "f" }, /not an inference endpoint/],
  [
    "speech",
    OPENAI,
    "POST",
    "/audio/speech",
    { model: "gpt-4o-mini", input: "x" },
    /not an inference endpoint/,
  ],
  [
    "a trailing path under chat",
    OPENAI,
    "POST",
    "/chat/completions/x",
    { model: "gpt-4o-mini" },
    /not an inference endpoint/,
  ],
  [
    "Anthropic batches",
    ANTHROPIC,
    "POST",
    "/v1/messages/batches",
    { requests: [] },
    /not an inference endpoint of anthropic/,
  ],
  ["Anthropic files", ANTHROPIC, "GET", "/v1/files", undefined, /not an inference endpoint/],
  ["Gemini files", GEMINI, "GET", "/files", undefined, /not an inference endpoint of gemini/],
  [
    "Gemini cachedContents",
    GEMINI,
    "POST",
    "/cachedContents",
    { model: "models/gemini-2.5-flash" },
    /not an inference endpoint/,
  ],
  ["a body that is not JSON", OPENAI, "POST", "/chat/completions", undefined, /needs a JSON object body/],
  ["an owner-opened path with no model reserves nothing", LOCAL, "GET", "/models", undefined, 0],
  [
    "an owner-opened path still checks its model",
    LOCAL,
    "POST",
    "/embeddings",
    { model: "bge", input: "x" },
    /bge is not in llm\[0\]\.models/,
  ],
  [
    "an owner-opened path does not open the method",
    LOCAL,
    "DELETE",
    "/models",
    undefined,
    /not an inference endpoint/,
  ],
  // Models and prices
  [
    "an unlisted model",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: "o1-pro" },
    /o1-pro is not in llm\[0\]\.models \(gpt-4o-mini, gpt-5\.4\)/,
  ],
  [
    "a dated snapshot is another id",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: "gpt-4o-mini-2024-07-18" },
    /not in llm\[0\]\.models/,
  ],
  ["no model", OPENAI, "POST", "/chat/completions", { messages: [] }, /names no model/],
  [
    "a model that is not a string",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: ["gpt-4o-mini"] },
    /names no model/,
  ],
  [
    "Gemini's model is in the path",
    GEMINI,
    "POST",
    "/models/gemini-2.5-pro:generateContent",
    {},
    /gemini-2\.5-pro is not in llm\[0\]\.models/,
  ],
  [
    "listed but unpriced",
    LOCAL,
    "POST",
    "/chat/completions",
    { model: "unpriced" },
    /no price is known for unpriced; name it in llm\[0\]\.prices/,
  ],
  ["priced by the owner at zero", LOCAL, "POST", "/chat/completions", { model: "qwen3" }, 0],
  // Reservations: input bytes (100 here) at 1.25x, output at the asked or the model's ceiling
  [
    "no limit: the model's ceiling",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: "gpt-5.4" },
    (100 * 1.25 * 2.5 + 128_000 * 15) / 1e6,
  ],
  [
    "the larger of two limits",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: "gpt-4o-mini", max_tokens: 10, max_completion_tokens: 1000 },
    (100 * 1.25 * 0.15 + 1000 * 0.6) / 1e6,
  ],
  [
    "a limit over the ceiling is the ceiling",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: "gpt-4o-mini", max_tokens: 10 ** 9 },
    (100 * 1.25 * 0.15 + 16_384 * 0.6) / 1e6,
  ],
  [
    "n replies cost n times",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: "gpt-4o-mini", max_tokens: 100, n: 8 },
    (100 * 1.25 * 0.15 + 800 * 0.6) / 1e6,
  ],
  [
    "a limit that is not a number is no limit",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: "gpt-4o-mini", max_tokens: "1" },
    (100 * 1.25 * 0.15 + 16_384 * 0.6) / 1e6,
  ],
  [
    "responses",
    OPENAI,
    "POST",
    "/responses",
    { model: "gpt-5.4", max_output_tokens: 1000 },
    (100 * 1.25 * 2.5 + 1000 * 15) / 1e6,
  ],
  [
    "background responses",
    OPENAI,
    "POST",
    "/responses",
    { model: "gpt-5.4", background: true },
    /background: background responses answer before their usage is known/,
  ],
  [
    "anthropic messages",
    ANTHROPIC,
    "POST",
    "/v1/messages",
    { model: "claude-sonnet-4-5", max_tokens: 1000 },
    (100 * 1.25 * 3 + 1000 * 15) / 1e6,
  ],
  [
    "anthropic count_tokens is free",
    ANTHROPIC,
    "POST",
    "/v1/messages/count_tokens",
    { model: "claude-sonnet-4-5" },
    0,
  ],
  [
    "gemini limit and candidates",
    GEMINI,
    "POST",
    "/models/gemini-2.5-flash:streamGenerateContent",
    { generationConfig: { maxOutputTokens: 100, candidateCount: 2 } },
    (100 * 1.25 * 0.3 + 200 * 2.5) / 1e6,
  ],
  [
    "gemini snake_case counts too",
    GEMINI,
    "POST",
    "/models/gemini-2.5-flash:generateContent",
    { generationConfig: { maxOutputTokens: 1 }, generation_config: { max_output_tokens: 1000 } },
    (100 * 1.25 * 0.3 + 1000 * 2.5) / 1e6,
  ],
  // Provider-side fetching
  [
    "an MCP server outside egress.allow",
    OPENAI,
    "POST",
    "/responses",
    { model: "gpt-5.4", tools: [{ type: "mcp", server_url: "https://attacker.example/mcp" }] },
    /body\.tools\[0\]\.server_url: the provider would fetch attacker\.example, which is not in egress\.allow/,
  ],
  [
    "an MCP server on a listed host",
    OPENAI,
    "POST",
    "/responses",
    {
      model: "gpt-5.4",
      max_output_tokens: 1,
      tools: [{ type: "mcp", server_url: "https://example.com/mcp" }],
    },
    (100 * 1.25 * 2.5 + 15) / 1e6,
  ],
  [
    "an MCP connector",
    OPENAI,
    "POST",
    "/responses",
    { model: "gpt-5.4", tools: [{ type: "mcp", connector_id: "connector_gmail" }] },
    /MCP connectors/,
  ],
  [
    "a file by URL",
    OPENAI,
    "POST",
    "/responses",
    {
      model: "gpt-5.4",
      input: [
        { role: "user", content: [{ type: "input_file", file_url: "https://attacker.example/x.pdf" }] },
      ],
    },
    /content\[0\]\.file_url: .*attacker\.example/,
  ],
  [
    "an image by URL (chat)",
    OPENAI,
    "POST",
    "/chat/completions",
    {
      model: "gpt-4o-mini",
      messages: [
        {
          role: "user",
          content: [{ type: "image_url", image_url: { url: "https://attacker.example/p.png?d=1" } }],
        },
      ],
    },
    /image_url: .*attacker\.example/,
  ],
  [
    "an inline image is no fetch",
    OPENAI,
    "POST",
    "/chat/completions",
    {
      model: "gpt-4o-mini",
      max_tokens: 1,
      messages: [
        { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] },
      ],
    },
    (100 * 1.25 * 0.15 + 0.6) / 1e6,
  ],
  [
    "a subdomain under a listed wildcard",
    OPENAI,
    "POST",
    "/responses",
    {
      model: "gpt-5.4",
      max_output_tokens: 1,
      input: [{ type: "input_image", image_url: "https://a.docs.example.org/i.png" }],
    },
    (100 * 1.25 * 2.5 + 15) / 1e6,
  ],
  [
    "a non-http scheme",
    GEMINI,
    "POST",
    "/models/gemini-2.5-flash:generateContent",
    { contents: [{ parts: [{ fileData: { fileUri: "gs://bucket/x" } }] }] },
    /fileUri: the provider would fetch gs:\/\/ URLs/,
  ],
  [
    "gemini fileUri elsewhere",
    GEMINI,
    "POST",
    "/models/gemini-2.5-flash:generateContent",
    { contents: [{ parts: [{ file_data: { file_uri: "https://attacker.example/v.mp4" } }] }] },
    /file_uri: .*attacker\.example/,
  ],
  [
    "gemini's own uploaded file",
    GEMINI,
    "POST",
    "/models/gemini-2.5-flash:generateContent",
    {
      generationConfig: { maxOutputTokens: 1 },
      contents: [
        { parts: [{ fileData: { fileUri: "https://generativelanguage.googleapis.com/v1beta/files/abc" } }] },
      ],
    },
    (100 * 1.25 * 0.3 + 2.5) / 1e6,
  ],
  [
    "gemini url_context",
    GEMINI,
    "POST",
    "/models/gemini-2.5-flash:generateContent",
    { tools: [{ url_context: {} }] },
    /url_context reads any URL in the prompt; it cannot be confined to egress\.allow/,
  ],
  [
    "gemini google_search",
    GEMINI,
    "POST",
    "/models/gemini-2.5-flash:generateContent",
    { tools: [{ googleSearch: {} }] },
    /Google Search grounding/,
  ],
  [
    "anthropic image by URL",
    ANTHROPIC,
    "POST",
    "/v1/messages",
    {
      model: "claude-sonnet-4-5",
      messages: [
        {
          role: "user",
          content: [{ type: "image", source: { type: "url", url: "https://attacker.example/p.png" } }],
        },
      ],
    },
    /source\.url: .*attacker\.example.*egress\.allow/,
  ],
  [
    "anthropic MCP connector",
    ANTHROPIC,
    "POST",
    "/v1/messages",
    {
      model: "claude-sonnet-4-5",
      mcp_servers: [{ type: "url", url: "https://attacker.example/sse", name: "x" }],
    },
    /mcp_servers\[0\]\.url: .*attacker\.example/,
  ],
  [
    "anthropic web_fetch unconfined",
    ANTHROPIC,
    "POST",
    "/v1/messages",
    { model: "claude-sonnet-4-5", tools: [{ type: "web_fetch_20250910", name: "web_fetch" }] },
    /tools\[0\]: a web tool not confined to domains in egress\.allow/,
  ],
  [
    "anthropic web_fetch confined elsewhere",
    ANTHROPIC,
    "POST",
    "/v1/messages",
    {
      model: "claude-sonnet-4-5",
      tools: [{ type: "web_fetch_20250910", allowed_domains: ["example.com", "attacker.example"] }],
    },
    /allowed domain attacker\.example is not in egress\.allow/,
  ],
  [
    "anthropic web_search confined to listed",
    ANTHROPIC,
    "POST",
    "/v1/messages",
    {
      model: "claude-sonnet-4-5",
      max_tokens: 1,
      tools: [{ type: "web_search_20250305", allowed_domains: ["example.com"] }],
    },
    (100 * 1.25 * 3 + 15) / 1e6,
  ],
  [
    "openai web_search unconfined",
    OPENAI,
    "POST",
    "/responses",
    { model: "gpt-5.4", tools: [{ type: "web_search" }] },
    /web tool not confined/,
  ],
  [
    "chat web_search_options",
    OPENAI,
    "POST",
    "/chat/completions",
    { model: "gpt-4o-mini", web_search_options: {} },
    /web_search_options/,
  ],
  [
    "a past web search in the history fetches nothing now",
    OPENAI,
    "POST",
    "/responses",
    {
      model: "gpt-5.4",
      max_output_tokens: 1,
      input: [{ type: "web_search_call", id: "ws_1", status: "completed" }],
    },
    (100 * 1.25 * 2.5 + 15) / 1e6,
  ],
  [
    "a function tool's schema is not a fetch",
    OPENAI,
    "POST",
    "/chat/completions",
    {
      model: "gpt-4o-mini",
      max_tokens: 1,
      tools: [
        {
          type: "function",
          function: { name: "f", parameters: { properties: { page_url: { type: "string" } } } },
        },
      ],
    },
    (100 * 1.25 * 0.15 + 0.6) / 1e6,
  ],
];

const providerHosts: Record<string, string> = {
  openai: "api.openai.com",
  anthropic: "api.anthropic.com",
  gemini: "generativelanguage.googleapis.com",
  "openai-compatible": "10.1.2.3",
};

describe("admitLlmCall", () => {
  for (const [name, p, method, path, body, expect] of rows) {
    test(name, () => {
      const got: Admission = admitLlmCall(
        { method, path, body, bodyBytes: 100 },
        p,
        policy(providerHosts[p.kind] as string),
      );
      if (expect instanceof RegExp) {
        assert.ok("refuse" in got, `forwarded: ${JSON.stringify(got)}`);
        assert.match(got.refuse.reason, expect);
      } else {
        assert.ok("forward" in got, `refused: ${JSON.stringify(got)}`);
        assert.ok(
          Math.abs(got.forward.reservationUsd - expect) < 1e-12,
          `${got.forward.reservationUsd} != ${expect}`,
        );
      }
    });
  }

  test("every inference endpoint names its documentation", () => {
    for (const [kind, endpoints] of Object.entries(INFERENCE_ENDPOINTS)) {
      assert.ok(endpoints.length > 0, kind);
      for (const e of endpoints) assert.match(e.doc, /^https:\/\//, `${kind} ${e.path}`);
    }
  });

  test("negative control: with every path opened, the non-inference rows are forwarded", () => {
    const open = { ...OPENAI, allowPaths: ["GET /files/*/content", "DELETE /files/*", "POST /batches"] };
    for (const [method, path] of [
      ["GET", "/files/file-abc/content"],
      ["DELETE", "/files/file-abc"],
      ["POST", "/batches"],
    ] as const) {
      const got = admitLlmCall({ method, path, body: {}, bodyBytes: 2 }, open, policy("api.openai.com"));
      assert.ok("forward" in got, `${method} ${path}: ${JSON.stringify(got)}`);
    }
  });
});

// Switch one refusal off (its code forwards instead) and the table must notice: every refusal
// admitLlmCall can give is held up by at least one row.
const CALL_CODES: Refusal["code"][] = [
  "not_inference",
  "bad_body",
  "refused_field",
  "provider_fetch",
  "model",
  "price",
  "upstream",
];

function callRowHolds([, p, method, path, body, expect]: Row, admit: typeof admitLlmCall): boolean {
  const got = admit({ method, path, body, bodyBytes: 100 }, p, policy(providerHosts[p.kind] as string));
  if (expect instanceof RegExp) return "refuse" in got && expect.test(got.refuse.reason);
  return "forward" in got && Math.abs(got.forward.reservationUsd - expect) < 1e-12;
}

describe("negative control: the admitLlmCall table notices a refusal switched off", () => {
  test("the table holds as it is", () => {
    assert.deepEqual(
      rows.filter((r) => !callRowHolds(r, admitLlmCall)).map((r) => r[0]),
      [],
    );
  });
  for (const off of CALL_CODES) {
    test(`${off} off`, () => {
      const weakened: typeof admitLlmCall = (...args) => {
        const got = admitLlmCall(...args);
        return "refuse" in got && got.refuse.code === off ? { forward: { reservationUsd: 0 } } : got;
      };
      const missed = rows.filter((r) => !callRowHolds(r, weakened));
      assert.ok(missed.length > 0, `switching ${off} off went unnoticed`);
    });
  }
});

// The head of a call, admitted before its body is read: path, query and credential headers.
const PH = "moat-placeholder-llm-p";
const KEY = "sk-real-0123456789abcdef";
const cred = { placeholder: PH, key: KEY };

type HeadRow = [
  name: string,
  p: LlmProvider,
  path: string,
  query: string,
  headers: Record<string, string | string[]>,
  // a RegExp the refusal reason must match (with its status), or the header that carries the key
  expect: [number, RegExp] | { header: string; value: string },
];

const bearer = { authorization: `Bearer ${PH}` };
const headRows: HeadRow[] = [
  [
    "openai with its placeholder",
    OPENAI,
    "/chat/completions",
    "",
    bearer,
    { header: "authorization", value: `Bearer ${KEY}` },
  ],
  [
    "anthropic with its placeholder",
    ANTHROPIC,
    "/v1/messages",
    "",
    { "x-api-key": PH },
    { header: "x-api-key", value: KEY },
  ],
  [
    "gemini with its placeholder",
    GEMINI,
    "/models/gemini-2.5-flash:generateContent",
    "?alt=sse",
    { "x-goog-api-key": PH },
    { header: "x-goog-api-key", value: KEY },
  ],
  ["a dot segment", OPENAI, "/../files", "", bearer, [400, /^path not allowed on an llm route$/]],
  ["an encoded dot segment", OPENAI, "/v1/%2e%2e/files", "", bearer, [400, /^path not allowed/]],
  ["an encoded slash", OPENAI, "/a%2fb", "", bearer, [400, /^path not allowed/]],
  ["a backslash", OPENAI, "/a\\b", "", bearer, [400, /^path not allowed/]],
  [
    "a key in the query string",
    GEMINI,
    "/models/x:generateContent",
    "?key=AIza",
    { "x-goog-api-key": PH },
    [401, /^credential in the query string$/],
  ],
  [
    "no credential",
    OPENAI,
    "/chat/completions",
    "",
    {},
    [401, /^no placeholder credential in authorization$/],
  ],
  [
    "another route's placeholder",
    OPENAI,
    "/chat/completions",
    "",
    { authorization: "Bearer moat-placeholder-llm-q" },
    [401, /does not carry this route's placeholder/],
  ],
  [
    "the real key",
    OPENAI,
    "/chat/completions",
    "",
    { authorization: `Bearer ${KEY}` },
    [401, /carries the real key/],
  ],
  [
    "a second credential header",
    OPENAI,
    "/chat/completions",
    "",
    { ...bearer, "x-api-key": "other" },
    [401, /x-api-key does not carry/],
  ],
  [
    "the placeholder twice",
    ANTHROPIC,
    "/v1/messages",
    "",
    { "x-api-key": [PH, PH] },
    [401, /sent more than once/],
  ],
];

function headRowHolds([, p, path, query, headers, expect]: HeadRow, admit: typeof admitLlmHead): boolean {
  const got: HeadAdmission = admit(
    { method: "POST", path, query: new URLSearchParams(query), headers },
    p,
    cred,
  );
  if (Array.isArray(expect)) {
    return "refuse" in got && got.refuse.status === expect[0] && expect[1].test(got.refuse.reason);
  }
  return (
    "headers" in got &&
    got.headers[expect.header] === expect.value &&
    !JSON.stringify(got.headers).includes(PH)
  );
}

describe("admitLlmHead", () => {
  for (const row of headRows)
    test(row[0], () =>
      assert.ok(
        headRowHolds(row, admitLlmHead),
        JSON.stringify(
          admitLlmHead(
            { method: "POST", path: row[2], query: new URLSearchParams(row[3]), headers: row[4] },
            row[1],
            cred,
          ),
        ),
      ),
    );

  test("negative control: the swap switched off goes red", () => {
    const noSwap = { ...cred, swap: () => ({ ok: true as const, headers: {} }) };
    const missed = headRows.filter((r) => !headRowHolds(r, (h, p) => admitLlmHead(h, p, noSwap)));
    assert.ok(missed.length > 0, "a head admission without the swap went unnoticed");
  });
  for (const off of ["path", "credential"] as const) {
    test(`negative control: ${off} off goes red`, () => {
      const weakened: typeof admitLlmHead = (...args) => {
        const got = admitLlmHead(...args);
        return "refuse" in got && got.refuse.code === off ? { headers: {} } : got;
      };
      assert.ok(
        headRows.some((r) => !headRowHolds(r, weakened)),
        `switching ${off} off went unnoticed`,
      );
    });
  }
});
