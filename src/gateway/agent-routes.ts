// The agent-facing routes of issue 4 on the gateway's internal router: `/llm/<name>/…` for each
// provider in moat.yaml and `/telegram/…` for the Bot API relay. Secrets are read here, in the
// gateway's process, and nowhere else.
//
// A reload builds a whole new generation of routes from the new spec (reading its secrets)
// before anything changes, then swaps it in with one assignment. Requests keep the generation
// they started on; a retired generation closes once its last request is done. What must outlive
// a generation is carried over: the one Budget (the day's spend; only its limits change) and
// the relay's memory (its Telegram offset), so a reload neither resets money nor re-delivers or
// skips an update.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import type { MoatSpec } from "../spec/schema.js";
import { readSecret, TELEGRAM_BOT_TOKEN_FIELD } from "../spec/secrets.js";
import type { AuditRecord, AuditSink } from "./audit.js";
import { BodyBudget, bodyLimitsFor } from "./body-budget.js";
import { Budget, FileBudgetStore } from "./llm/budget.js";
import { budgetFile, budgetLimits, createLlmRoutes, type LlmRoutes, readLlmKeys } from "./llm/routes.js";
import type { NameResolver } from "./resolve.js";
import { type InternalRouter, plain } from "./router.js";
import { createTelegramRelay, type TelegramRelay } from "./telegram/relay.js";
import { guardedLookup, resolveWith } from "./upstream/lookup.js";

export interface AgentRoutesOptions {
  audit: AuditSink;
  registry: Registry;
  // Upstream names are resolved like egress names: same resolver, same address screening.
  resolver: NameResolver;
  stateDir?: string;
  env?: NodeJS.ProcessEnv;
  // The deadline for a request body; default bodyLimitsFor(spec).
  bodyDeadlineMs?: number;
}

// One spec's routes, built whole; `limits` are applied to the shared Budget at the swap.
export interface RoutesGeneration {
  readonly llm?: LlmRoutes;
  readonly telegram?: TelegramRelay;
  readonly limits: Readonly<Record<string, number | undefined>>;
  readonly budget?: Budget;
}

interface Live {
  routes: RoutesGeneration;
  inFlight: number;
  retired: boolean;
  closed: boolean;
}

export class AgentRoutes {
  private live: Live;
  private readonly open = new Set<Live>();

  constructor(
    private readonly opts: AgentRoutesOptions,
    first: RoutesGeneration,
  ) {
    this.live = this.adopt(first);
  }

  // Mounted once; every request is dispatched to the generation current when it arrives.
  mount(router: InternalRouter): void {
    router.prefix("/llm", (req, res) => this.serve(this.live, "llm", req, res));
    router.prefix("/telegram", (req, res) => this.serve(this.live, "telegram", req, res));
  }

  // Everything the next spec needs, secrets read first; throws (naming the field) and changes
  // nothing if any of it cannot be had.
  prepare(spec: MoatSpec): RoutesGeneration {
    return buildRoutes(spec, this.opts, {
      budget: this.live.routes.budget,
      telegram: this.live.routes.telegram,
    });
  }

  // The one assignment; then the old generation ends its long polls and closes when idle.
  swap(next: RoutesGeneration): void {
    const old = this.live;
    this.live = this.adopt(next);
    old.retired = true;
    old.routes.telegram?.retire();
    this.closeIfIdle(old);
  }

  close(): void {
    for (const live of this.open) this.closeNow(live);
  }

  private adopt(routes: RoutesGeneration): Live {
    routes.budget?.setLimits(routes.limits);
    const live = { routes, inFlight: 0, retired: false, closed: false };
    this.open.add(live);
    return live;
  }

  private serve(live: Live, kind: "llm" | "telegram", req: IncomingMessage, res: ServerResponse) {
    const route = live.routes[kind];
    if (!route) {
      plain(res, 404, `moat: no gateway route for ${req.method} ${(req.url ?? "/").slice(0, 200)}`);
      return;
    }
    // In flight until the handler is done (an LLM call is read to its end for its usage even
    // after the agent left) and the response is closed (a file download is piped).
    live.inFlight++;
    let pending = 2;
    const oneDone = () => {
      if (--pending > 0) return;
      live.inFlight--;
      this.closeIfIdle(live);
    };
    res.once("close", oneDone);
    // async: a handler that throws at once still counts as done.
    return (async () => route.handle(req, res))().finally(oneDone);
  }

  private closeIfIdle(live: Live) {
    if (live.retired && live.inFlight === 0) this.closeNow(live);
  }

  private closeNow(live: Live) {
    if (live.closed) return;
    live.closed = true;
    this.open.delete(live);
    live.routes.llm?.close();
    live.routes.telegram?.close();
  }
}

export function mountAgentRoutes(
  router: InternalRouter,
  spec: MoatSpec,
  opts: AgentRoutesOptions,
): AgentRoutes {
  const routes = new AgentRoutes(opts, buildRoutes(spec, opts, {}));
  routes.mount(router);
  return routes;
}

function buildRoutes(
  spec: MoatSpec,
  opts: AgentRoutesOptions,
  carried: { budget?: Budget; telegram?: TelegramRelay },
): RoutesGeneration {
  const llmKeys = readLlmKeys(spec, opts.env);
  const telegram = spec.messengers.telegram;
  const botToken = telegram && readSecret(TELEGRAM_BOT_TOKEN_FIELD, telegram.botToken, opts.env);
  const limits = budgetLimits(spec);
  // Read once per process: a reload must never reset the day's spend from a stale file.
  const budget =
    carried.budget ??
    (spec.llm.length > 0 ? new Budget(limits, new FileBudgetStore(budgetFile(opts.stateDir))) : undefined);

  // The routes' lines carry their own `event` field (and, like egress lines, never a body or a
  // credential); the sink takes every kind (audit.ts).
  const audit = (r: AuditRecord) => opts.audit.record(r);
  const lookup = guardedLookup(spec.egress.allowCidrs, resolveWith(opts.resolver));
  // One body budget for both kinds of route: the bound is on the gateway's memory, not per route.
  // A generation gets its own, sized from its spec; a reload's overlap is brief (old bodies drain).
  const bodyLimits = bodyLimitsFor(spec);
  const bodyBudget = new BodyBudget({
    ...bodyLimits,
    deadlineMs: opts.bodyDeadlineMs ?? bodyLimits.deadlineMs,
  });
  const llm =
    spec.llm.length > 0
      ? createLlmRoutes(spec, llmKeys, {
          audit,
          registry: opts.registry,
          lookup,
          stateDir: opts.stateDir,
          budget,
          bodyBudget,
        })
      : undefined;
  const relay =
    telegram && botToken !== undefined
      ? createTelegramRelay(spec, botToken, {
          audit,
          registry: opts.registry,
          lookup,
          memory: carried.telegram?.memory,
          bodyBudget,
        })
      : undefined;
  return { llm, telegram: relay, limits, budget };
}
