// `/llm/<name>/…` on the gateway's agent-facing address, as wiring: admit the head (placeholder
// swapped for the real key), read the body, admit the call (./admission.ts), reserve its worst
// case (./meter.ts), forward it to that provider's base URL and nowhere else (./forward.ts),
// settle the budget to the measured usage, and write one audit line.
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { Registry } from "prom-client";
import { STATE_DIR } from "../../render/paths.js";
import { llmPlaceholder, upstreamBaseUrl } from "../../spec/derive.js";
import type { LlmProvider, MoatSpec } from "../../spec/schema.js";
import { llmApiKeyField, readSecret } from "../../spec/secrets.js";
import { compileAcl } from "../acl.js";
import { BodyBudget, BodyRefused, bodyLimitsFor, LLM_MAX_BODY } from "../body-budget.js";
import { requestTarget, sendJson } from "../route-http.js";
import { type UpstreamOptions, upstreamDialer } from "../upstream/dial.js";
import { admitLlmCall, admitLlmHead, type ProviderCredential, type ProviderPolicy } from "./admission.js";
import { Budget, FileBudgetStore } from "./budget.js";
import type { swapCredential } from "./credential.js";
import { providerErrorBody } from "./errors.js";
import { type Billing, forwardLlmCall } from "./forward.js";
import { type OverBudget, UsageMeter } from "./meter.js";
import type { PriceSource } from "./prices.js";
import { EMPTY_USAGE, meteredBody, usageFamily } from "./usage.js";

const BUDGET_FILE = "llm-budget.json";

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

// What the route knows of one provider, fixed when the routes are built.
interface Route {
  provider: LlmProvider;
  root: URL;
  policy: ProviderPolicy;
  credential: ProviderCredential;
}

type Recorded = Partial<LlmAuditRecord> & Pick<LlmAuditRecord, "status" | "outcome">;

export function createLlmRoutes(spec: MoatSpec, keys: Record<string, string>, deps: LlmDeps = {}): LlmRoutes {
  for (const p of spec.llm) if (!keys[p.name]) throw new Error(`no key for llm provider ${p.name}`);
  const clock = deps.clock ?? (() => new Date());
  const budget =
    deps.budget ?? new Budget(budgetLimits(spec), new FileBudgetStore(budgetFile(deps.stateDir)), clock);
  const meter = new UsageMeter(
    budget,
    deps.registry ?? new Registry(),
    spec.llm.map((p) => p.name),
    clock,
  );
  const audit = deps.audit ?? (() => {});
  const maxRequestBytes = deps.maxRequestBytes ?? LLM_MAX_BODY;
  const bodies = deps.bodyBudget ?? new BodyBudget(bodyLimitsFor(spec));
  const idleMs = deps.upstreamIdleMs ?? 300_000;
  const dialer = upstreamDialer(spec.egress.allowCidrs, deps);
  const egressAllow = compileAcl(spec.egress.allow);
  const routes = new Map<string, Route>(
    spec.llm.map((p, i) => {
      const root = new URL(upstreamBaseUrl(p));
      const policy = {
        field: `llm[${i}]`,
        acl: egressAllow,
        providerHost: root.hostname.toLowerCase(),
        allowCidrs: spec.egress.allowCidrs,
      };
      const credential = { placeholder: llmPlaceholder(p), key: keys[p.name] as string, swap: deps.swap };
      return [p.name, { provider: p, root, policy, credential }];
    }),
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = requestTarget(req);
    const match = /^\/llm\/([^/]+)(\/.*)?$/.exec(url.path);
    const route = match ? routes.get(match[1] as string) : undefined;
    if (!match || !route) {
      sendJson(res, 404, providerErrorBody(undefined, 404, `moat: no llm route at ${url.path}`));
      return;
    }
    const { provider } = route;
    const name = provider.name;
    const method = req.method ?? "GET";
    const suffix = match[2] ?? "/";
    const record = (r: Recorded) => {
      audit({
        event: "llm.call",
        provider: name,
        kind: provider.kind,
        method,
        path: suffix,
        stream: false,
        costUsd: 0,
        spentTodayUsd: budget.spent(name),
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        ...EMPTY_USAGE,
        ...r,
      });
      meter.counted(name, r.outcome);
    };
    const fail = (status: number, outcome: LlmAuditRecord["outcome"], reason: string, headers = {}) => {
      sendJson(res, status, providerErrorBody(provider.kind, status, `moat: ${reason}`), headers);
      record({ status, outcome, reason });
    };
    const overBudget = (o: OverBudget) => fail(o.status, "over_budget", o.reason, o.headers);

    const head = admitLlmHead(
      { method, path: suffix, query: url.query, headers: req.headers },
      provider,
      route.credential,
    );
    if ("refuse" in head) return fail(head.refuse.status, "refused", head.refuse.reason);
    const spent = meter.spentOut(name);
    if (spent) return overBudget(spent);

    let raw: Buffer;
    try {
      raw = await bodies.read(req, res, maxRequestBytes);
    } catch (err) {
      if (err instanceof BodyRefused) return fail(err.status, "refused", err.message);
      res.destroy();
      return;
    }
    const { json, body } = meteredBody(usageFamily(provider.kind), suffix, raw);
    const admission = admitLlmCall(
      { method, path: suffix, body: json, bodyBytes: body.length },
      provider,
      route.policy,
    );
    if ("refuse" in admission) return fail(admission.refuse.status, "refused", admission.refuse.reason);
    const admitted = admission.forward;
    const reserved = meter.reserve(name, admitted);
    if (!("hold" in reserved)) return overBudget(reserved);

    const result = await forwardLlmCall(
      dialer,
      {
        root: route.root,
        kind: provider.kind,
        method,
        pathAndQuery: suffix + url.search,
        headers: head.headers,
        body,
        idleMs,
      },
      res,
    );
    const metered = meter.settle(name, admitted, reserved.hold, result);
    record({
      status: result.status,
      outcome: result.outcome,
      reason: result.reason,
      stream: result.stream,
      ...metered,
    });
  }

  return { handle, budget, close: () => dialer.close() };
}
