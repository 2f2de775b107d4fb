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
import { llmApiKeyField, readSecret } from "../../spec/secrets.js";
import { compileAcl } from "../acl.js";
import { BodyBudget, BodyRefused, bodyLimitsFor, LLM_MAX_BODY } from "../body-budget.js";
import { checkUpstreamHead } from "../upstream-head.js";
import { admitLlmCall, type Forward, type ProviderPolicy } from "./admission.js";
import { Budget, FileBudgetStore, type Reservation } from "./budget.js";
import { swapCredential, withoutHopByHop } from "./credential.js";
import { providerErrorBody } from "./errors.js";
import { requestTarget, safeSuffix, sendJson } from "./http-util.js";
import { llmMetrics } from "./metrics.js";
import { costOf, type PriceSource } from "./prices.js";
import { guardedLookup, type UpstreamOptions, upstreamAgent, upstreamRefusal } from "./upstream.js";
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
  // What was held against the budget before forwarding, and whether the charge is the measured
  // usage or (usage unreadable) that hold.
  reservedUsd?: number;
  charged?: Billing;
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
  // The process's one Budget, kept across reloads (its limits are the caller's to set).
  budget?: Budget;
}

export interface LlmRoutes {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  budget: Budget;
  close(): void;
}

export const budgetLimits = (spec: MoatSpec) =>
  Object.fromEntries(spec.llm.map((p) => [p.name, p.budget?.dailyUsd]));
export const budgetFile = (stateDir = STATE_DIR) => join(stateDir, BUDGET_FILE);

// The gateway reads the keys; nothing else in Moat does.
export function readLlmKeys(spec: MoatSpec, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(spec.llm.map((p, i) => [p.name, readSecret(llmApiKeyField(i), p.apiKey, env)]));
}

// "measured": the reply's own usage report; "reservation": the reply ended without one we could
// read (cut off, truncated, unknown shape), so the worst case is charged, never zero; "none": the
// call never reached the provider.
type Billing = "measured" | "reservation" | "none";

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
  const budget =
    deps.budget ?? new Budget(budgetLimits(spec), new FileBudgetStore(budgetFile(deps.stateDir)), clock);
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
  const egressAllow = compileAcl(spec.egress.allow);
  const policies = new Map<string, ProviderPolicy>(
    spec.llm.map((p, i) => [
      p.name,
      {
        field: `llm[${i}]`,
        acl: egressAllow,
        providerHost: new URL(upstreamBaseUrl(p)).hostname.toLowerCase(),
      },
    ]),
  );

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
    const overBudget = (message: string) => {
      const resets = budget.resetsAt();
      return fail(429, "over_budget", `${message}; it resets at ${resets.toISOString()}`, {
        "retry-after": Math.max(1, Math.ceil((resets.getTime() - clock().getTime()) / 1000)),
        // Both official SDKs honour this and do not retry a spent budget.
        "x-should-retry": "false",
      });
    };
    if (budget.exhausted(provider.name)) {
      return overBudget(
        `daily budget for ${provider.name} is spent ($${budget.spent(provider.name).toFixed(4)} of ` +
          `$${budget.limit(provider.name)})`,
      );
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
    const policy = policies.get(provider.name) as ProviderPolicy;
    const admission = admitLlmCall(
      { method: req.method ?? "GET", path: suffix, body: json, bodyBytes: body.length },
      provider,
      policy,
    );
    if ("refuse" in admission) return fail(admission.refuse.status, "refused", admission.refuse.reason);
    const refusedUpstream = upstreamRefusal(upstreamBaseUrl(provider), spec.egress.allowCidrs);
    if (refusedUpstream) return fail(502, "refused", refusedUpstream);
    const admitted = admission.forward;
    const hold = budget.reserve(provider.name, admitted.reservationUsd);
    if (!hold.ok) {
      return overBudget(
        `this call may cost up to $${admitted.reservationUsd.toFixed(4)} (${admitted.model}, every input ` +
          `byte a token plus its whole output allowance; lower max_tokens to ask for less) and ` +
          `$${hold.leftUsd.toFixed(4)} of ${provider.name}'s $${budget.limit(provider.name)} daily budget is left`,
      );
    }
    await forward(provider, suffix + url.search, body, swapped.headers, req, res, (result) =>
      settle(provider, admitted, hold.reservation, result, record),
    );
  }

  interface Result {
    status: number;
    outcome: LlmAuditRecord["outcome"];
    reason?: string;
    stream: boolean;
    usage: Usage;
    billing: Billing;
  }

  function settle(
    provider: LlmProvider,
    admitted: Forward,
    reservation: Reservation,
    result: Result,
    record: (r: Partial<LlmAuditRecord> & Pick<LlmAuditRecord, "status" | "outcome">) => void,
  ) {
    const model = admitted.model ?? result.usage.model;
    // A path the owner opened that names no model has no price: its usage is not charged.
    const measured = admitted.price ? costOf(result.usage, admitted.price) : 0;
    const costUsd =
      result.billing === "none"
        ? 0
        : result.billing === "reservation"
          ? Math.max(measured, reservation.usd)
          : measured;
    budget.settle(reservation, costUsd);
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
      reservedUsd: reservation.usd,
      charged: result.billing,
      priceSource: admitted.priceSource,
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
    // Usage reports named both input and output tokens (an empty `usage: {}` is no report), and
    // the provider was reached at all.
    let inputSeen = false;
    let outputSeen = false;
    let reached = false;
    const take = (report: ReturnType<typeof usageFromResponse>) => {
      if (report.inputTokens !== undefined) inputSeen = true;
      if (report.outputTokens !== undefined) outputSeen = true;
      usage = mergeUsage(usage, report);
    };
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
      upstream.on("socket", (s) => {
        s.setNoDelay(true);
        // A kept-alive socket is connected already; a new one counts once its handshake is done.
        // A new socket whose lookup failed at once is not connecting either, but has no peer.
        if (!s.connecting && s.remoteAddress !== undefined) reached = true;
        else s.once(tls ? "secureConnect" : "connect", () => (reached = true));
      });
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
        const billing = reached ? "reservation" : "none";
        finish({ status, outcome: "upstream_error", reason: err.message, stream: false, billing });
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
          // The provider answered, so it may have billed: charge the reservation.
          finish({
            status: 502,
            outcome: "upstream_error",
            reason: head.reason,
            stream: false,
            billing: "reservation",
          });
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
              if (event !== undefined) take(usageFromStreamEvent(family, event));
            })
          : undefined;
        const kept: Buffer[] = [];
        let keptBytes = 0;
        let truncated = false;
        up.on("data", (chunk: Buffer) => {
          if (!agentGone && !res.write(chunk)) {
            up.pause();
            res.once("drain", () => up.resume());
          }
          if (tap) tap.push(chunk);
          else if (keptBytes + chunk.length <= MAX_TAPPED_BODY) {
            kept.push(chunk);
            keptBytes += chunk.length;
          } else truncated = true;
        });
        up.on("end", () => {
          if (tap) tap.end();
          else if (keptBytes && !truncated) take(usageFromResponse(family, parseJson(Buffer.concat(kept))));
          res.end();
          // A refused request (4xx, 5xx) is not billed by the provider; a success without a
          // usage report we could read is charged at its reservation.
          const billing = (inputSeen && outputSeen) || status >= 400 ? "measured" : "reservation";
          finish({ status, outcome: agentGone ? "client_closed" : "forwarded", stream, billing });
          resolve();
        });
        up.on("error", () => {
          res.destroy();
          finish({
            status,
            outcome: "upstream_error",
            reason: "reply cut off",
            stream,
            billing: "reservation",
          });
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
