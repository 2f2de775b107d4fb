// `/llm/<name>/…` on the gateway's agent-facing address: check the placeholder, put the real
// key in, forward to that provider's base URL and nowhere else, pass the reply through as it
// arrives while reading its usage on the way, and charge the day's budget.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import { join } from "node:path";
import { Registry } from "prom-client";
import { STATE_DIR } from "../../render/paths.js";
import { llmPlaceholder, upstreamBaseUrl } from "../../spec/derive.js";
import type { LlmProvider, MoatSpec } from "../../spec/schema.js";
import { readSecret } from "../../spec/secrets.js";
import { BodyBudget, BodyRefused, bodyLimitsFor, LLM_MAX_BODY } from "../body-budget.js";
import { checkUpstreamHead } from "../upstream-head.js";
import { Budget, FileBudgetStore } from "./budget.js";
import { swapCredential, withoutHopByHop } from "./credential.js";
import { providerErrorBody } from "./errors.js";
import { requestTarget, safeSuffix, sendJson } from "./http-util.js";
import { llmMetrics } from "./metrics.js";
import { costOf, type PriceSource, priceFor } from "./prices.js";
import { guardedLookup, type UpstreamOptions, upstreamAgent } from "./upstream.js";
import {
  EMPTY_USAGE,
  mergeUsage,
  SseTap,
  type Usage,
  type UsageFamily,
  usageFamily,
  usageFromResponse,
  usageFromStreamEvent,
} from "./usage.js";

export const LLM_ROUTE_PREFIX = "/llm/";
export const BUDGET_FILE = "llm-budget.json";

// One line per call. Never the prompt, the completion or a credential.
export interface LlmAuditRecord {
  event: "llm.call";
  provider: string;
  kind: string;
  model?: string;
  method: string;
  path: string;
  status: number;
  outcome: "forwarded" | "refused" | "over_budget" | "upstream_error" | "client_closed";
  reason?: string;
  stream: boolean;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
  priceSource?: PriceSource;
  spentTodayUsd: number;
  durationMs: number;
}

export interface LlmDeps extends UpstreamOptions {
  stateDir?: string;
  clock?: () => Date;
  audit?: (record: LlmAuditRecord) => void;
  registry?: Registry;
  // The swap is injectable only so the tests can show they notice when it is switched off.
  swap?: typeof swapCredential;
  maxRequestBytes?: number;
  // Shared with the Telegram relay: bytes held across requests, per-client bodies, deadline.
  bodyBudget?: BodyBudget;
  // Longest silence from a provider mid-reply before the call is cut (long thinking is silent).
  upstreamIdleMs?: number;
}

export interface LlmRoutes {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  budget: Budget;
  close(): void;
}

// The gateway reads the keys; nothing else in Moat does.
export function readLlmKeys(spec: MoatSpec, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(spec.llm.map((p, i) => [p.name, readSecret(`llm[${i}].apiKey`, p.apiKey, env)]));
}

// Model named by the request: the JSON body's `model`, or Gemini's `/models/<id>:method` path.
function requestedModel(body: unknown, path: string): string | undefined {
  const m = (body as { model?: unknown } | undefined)?.model;
  if (typeof m === "string") return m;
  return /\/models\/([^/:]+)/.exec(path)?.[1];
}

// OpenAI-style streams carry usage only when asked; the gateway always asks, or a streamed call
// would be free against the budget.
function withUsageRequested(family: UsageFamily, path: string, json: Record<string, unknown>): boolean {
  if (family !== "openai" || json.stream !== true || !/\/(chat\/)?completions$/.test(path)) return false;
  const options = json.stream_options;
  if (typeof options === "object" && options !== null && (options as Record<string, unknown>).include_usage)
    return false;
  json.stream_options = {
    ...(typeof options === "object" && options !== null ? options : {}),
    include_usage: true,
  };
  return true;
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch {
    return undefined;
  }
}

const MAX_TAPPED_BODY = 8 << 20;

export function createLlmRoutes(spec: MoatSpec, keys: Record<string, string>, deps: LlmDeps = {}): LlmRoutes {
  const providers = new Map(spec.llm.map((p) => [p.name, p]));
  for (const p of spec.llm) if (!keys[p.name]) throw new Error(`no key for llm provider ${p.name}`);
  const clock = deps.clock ?? (() => new Date());
  const budget = new Budget(
    Object.fromEntries(spec.llm.map((p) => [p.name, p.budget?.dailyUsd])),
    new FileBudgetStore(join(deps.stateDir ?? STATE_DIR, BUDGET_FILE)),
    clock,
  );
  const metrics = llmMetrics(deps.registry ?? new Registry(), budget, [...providers.keys()]);
  const swap = deps.swap ?? swapCredential;
  const audit = deps.audit ?? (() => {});
  const maxRequestBytes = deps.maxRequestBytes ?? LLM_MAX_BODY;
  const bodies = deps.bodyBudget ?? new BodyBudget(bodyLimitsFor(spec));
  const idleMs = deps.upstreamIdleMs ?? 300_000;
  const tlsAgent = upstreamAgent(spec.egress.allowCidrs, deps);
  // Plain http only for an owner's local model server (openai-compatible baseUrl http://…).
  const plainAgent = new http.Agent({ keepAlive: true });
  const plainLookup = deps.lookup ?? guardedLookup(spec.egress.allowCidrs);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = requestTarget(req);
    const match = /^\/llm\/([^/]+)(\/.*)?$/.exec(url.path);
    const provider = match ? providers.get(match[1] as string) : undefined;
    if (!match || !provider) {
      sendJson(res, 404, providerErrorBody(undefined, 404, `moat: no llm route at ${url.path}`));
      return;
    }
    const kind = provider.kind;
    const family = usageFamily(kind);
    const suffix = match[2] ?? "/";
    const record = (r: Partial<LlmAuditRecord> & Pick<LlmAuditRecord, "status" | "outcome">) => {
      const usage = { ...EMPTY_USAGE, ...r };
      audit({
        event: "llm.call",
        provider: provider.name,
        kind,
        method: req.method ?? "GET",
        path: suffix,
        stream: false,
        costUsd: 0,
        spentTodayUsd: budget.spent(provider.name),
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        ...usage,
      });
      metrics.requests.inc({ provider: provider.name, outcome: r.outcome });
    };
    const fail = (status: number, outcome: LlmAuditRecord["outcome"], reason: string, headers = {}) => {
      sendJson(res, status, providerErrorBody(kind, status, `moat: ${reason}`), headers);
      record({ status, outcome, reason });
    };

    if (!safeSuffix(suffix)) return fail(400, "refused", "path not allowed on an llm route");
    // A key in the query string (Gemini accepts ?key=) would slip past the header check.
    if (url.query.has("key")) return fail(401, "refused", "credential in the query string");
    const swapped = swap(req.headers, kind, llmPlaceholder(provider), keys[provider.name] as string);
    if (!swapped.ok) return fail(401, "refused", swapped.reason);
    if (budget.exhausted(provider.name)) {
      const resets = budget.resetsAt();
      const message =
        `daily budget for ${provider.name} is spent ($${budget.spent(provider.name).toFixed(4)} of ` +
        `$${budget.limit(provider.name)}); it resets at ${resets.toISOString()}`;
      return fail(429, "over_budget", message, {
        "retry-after": Math.max(1, Math.ceil((resets.getTime() - clock().getTime()) / 1000)),
        // Both official SDKs honour this and do not retry a spent budget.
        "x-should-retry": "false",
      });
    }

    let body: Buffer;
    try {
      body = await bodies.read(req, res, maxRequestBytes);
    } catch (err) {
      if (err instanceof BodyRefused) return fail(err.status, "refused", err.message);
      res.destroy();
      return;
    }
    const json = parseJson(body);
    const isObject = typeof json === "object" && json !== null && !Array.isArray(json);
    if (isObject && withUsageRequested(family, suffix, json as Record<string, unknown>)) {
      body = Buffer.from(JSON.stringify(json));
    }
    const asked = requestedModel(json, suffix);
    await forward(provider, suffix + url.search, body, swapped.headers, req, res, (result) =>
      settle(provider, asked, result, record),
    );
  }

  interface Result {
    status: number;
    outcome: LlmAuditRecord["outcome"];
    reason?: string;
    stream: boolean;
    usage: Usage;
  }

  function settle(
    provider: LlmProvider,
    askedModel: string | undefined,
    result: Result,
    record: (r: Partial<LlmAuditRecord> & Pick<LlmAuditRecord, "status" | "outcome">) => void,
  ) {
    const model = result.usage.model ?? askedModel;
    const { price, source } = priceFor(model, provider.prices);
    const costUsd = costOf(result.usage, price);
    budget.charge(provider.name, costUsd);
    metrics.spend.inc({ provider: provider.name }, costUsd);
    const u = result.usage;
    for (const [kind, n] of [
      ["input", u.inputTokens],
      ["output", u.outputTokens],
      ["cache_read", u.cacheReadTokens],
      ["cache_write", u.cacheWriteTokens],
    ] as const) {
      if (n) metrics.tokens.inc({ provider: provider.name, kind }, n);
    }
    record({
      status: result.status,
      outcome: result.outcome,
      reason: result.reason,
      stream: result.stream,
      model,
      inputTokens: u.inputTokens,
      outputTokens: u.outputTokens,
      cacheReadTokens: u.cacheReadTokens,
      cacheWriteTokens: u.cacheWriteTokens,
      costUsd,
      priceSource: source,
    });
  }

  function forward(
    provider: LlmProvider,
    pathAndQuery: string,
    body: Buffer,
    headers: http.OutgoingHttpHeaders,
    req: IncomingMessage,
    res: ServerResponse,
    done: (r: Result) => void,
  ): Promise<void> {
    const base = new URL(upstreamBaseUrl(provider));
    const tls = base.protocol === "https:";
    const family = usageFamily(provider.kind);
    let usage: Usage = { ...EMPTY_USAGE };
    let settled = false;
    const finish = (r: Omit<Result, "usage">) => {
      if (settled) return;
      settled = true;
      done({ ...r, usage });
    };

    return new Promise<void>((resolve) => {
      const upstream = (tls ? https : http).request({
        agent: tls ? tlsAgent : plainAgent,
        ...(tls ? {} : { lookup: plainLookup }),
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port || (tls ? 443 : 80),
        ...(tls ? { servername: base.hostname } : {}),
        method: req.method,
        // The host is fixed by the base URL; the agent chooses only the path under it.
        path: base.pathname.replace(/\/+$/, "") + pathAndQuery,
        headers: { ...headers, host: base.host, "content-length": body.length },
        timeout: idleMs,
      });
      upstream.on("socket", (s) => s.setNoDelay(true));
      upstream.on("timeout", () => upstream.destroy(new Error("upstream idle timeout")));

      // The agent went away mid-call. Usage comes last, so cutting the provider off would leave
      // the call uncounted (a way around the budget); the gateway reads the reply to its end,
      // discarding it, and charges the usage report. That costs at most the rest of one reply,
      // bounded by the request's own token limit and the idle timeout.
      let agentGone = false;
      let reply: http.IncomingMessage | undefined;
      res.on("close", () => {
        if (res.writableFinished) return;
        agentGone = true;
        reply?.resume();
      });

      const upstreamFailed = (err: Error) => {
        const timeout = err.message.includes("timeout");
        const status = timeout ? 504 : 502;
        if (!res.headersSent) {
          sendJson(res, status, providerErrorBody(provider.kind, status, `moat: upstream ${err.message}`));
        } else {
          res.destroy();
        }
        finish({ status, outcome: "upstream_error", reason: err.message, stream: false });
        resolve();
      };
      upstream.on("error", upstreamFailed);

      // A 101 the gateway never asked for: Node would otherwise leave the call hanging.
      upstream.on("upgrade", (_up, socket) => {
        socket.destroy();
        upstreamFailed(new Error("sent status 101 to a request that asked for no upgrade"));
      });

      upstream.on("response", (up) => {
        reply = up;
        const head = checkUpstreamHead(up.statusCode, up.statusMessage, up.rawHeaders);
        if (!head.ok) {
          up.resume();
          if (!agentGone) sendJson(res, 502, providerErrorBody(provider.kind, 502, `moat: ${head.reason}`));
          finish({ status: 502, outcome: "upstream_error", reason: head.reason, stream: false });
          resolve();
          return;
        }
        const status = up.statusCode ?? 502;
        const stream = /^text\/event-stream/i.test(String(up.headers["content-type"] ?? ""));
        if (!agentGone) {
          res.writeHead(status, withoutHopByHop(up.headers));
          res.flushHeaders();
        }
        const tap = stream
          ? new SseTap((data) => {
              const event = parseJson(Buffer.from(data));
              if (event !== undefined) usage = mergeUsage(usage, usageFromStreamEvent(family, event));
            })
          : undefined;
        const kept: Buffer[] = [];
        let keptBytes = 0;
        up.on("data", (chunk: Buffer) => {
          if (!agentGone && !res.write(chunk)) {
            up.pause();
            res.once("drain", () => up.resume());
          }
          if (tap) tap.push(chunk);
          else if (keptBytes + chunk.length <= MAX_TAPPED_BODY) {
            kept.push(chunk);
            keptBytes += chunk.length;
          }
        });
        up.on("end", () => {
          if (tap) tap.end();
          else if (keptBytes) {
            usage = mergeUsage(usage, usageFromResponse(family, parseJson(Buffer.concat(kept))));
          }
          res.end();
          finish({ status, outcome: agentGone ? "client_closed" : "forwarded", stream });
          resolve();
        });
        up.on("error", () => {
          res.destroy();
          finish({ status, outcome: "upstream_error", reason: "reply cut off", stream });
          resolve();
        });
      });

      upstream.end(body);
    });
  }

  return {
    handle,
    budget,
    close() {
      tlsAgent.destroy();
      plainAgent.destroy();
    },
  };
}
