// The agent-facing routes of issue 4 on the gateway's internal router: `/llm/<name>/…` for each
// provider in moat.yaml and `/telegram/…` for the Bot API relay. Secrets are read here, in the
// gateway's process, and nowhere else.
import type { Registry } from "prom-client";
import { STATE_DIR } from "../render/paths.js";
import type { MoatSpec } from "../spec/schema.js";
import { readSecret } from "../spec/secrets.js";
import type { AuditEntry, AuditSink } from "./audit.js";
import { BodyBudget, bodyLimitsFor } from "./body-budget.js";
import { createLlmRoutes, readLlmKeys } from "./llm/routes.js";
import { guardedLookup, resolveWith } from "./llm/upstream.js";
import type { NameResolver } from "./resolve.js";
import type { InternalRouter } from "./router.js";
import { createTelegramRelay } from "./telegram/relay.js";

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

export function mountAgentRoutes(
  router: InternalRouter,
  spec: MoatSpec,
  opts: AgentRoutesOptions,
): { close(): void } {
  // The audit file is JSON lines; AuditEntry types the egress decisions, these lines carry
  // their own `event` field instead (and, like those, never a body or a credential).
  const audit = (r: object) => opts.audit.record(r as unknown as AuditEntry);
  const lookup = guardedLookup(spec.egress.allowCidrs, resolveWith(opts.resolver));
  const closers: (() => void)[] = [];
  // One budget for both kinds of route: the bound is on the gateway's memory, not per route.
  const limits = bodyLimitsFor(spec);
  const bodyBudget = new BodyBudget({ ...limits, deadlineMs: opts.bodyDeadlineMs ?? limits.deadlineMs });
  if (spec.llm.length > 0) {
    const llm = createLlmRoutes(spec, readLlmKeys(spec, opts.env), {
      audit,
      registry: opts.registry,
      lookup,
      stateDir: opts.stateDir ?? STATE_DIR,
      bodyBudget,
    });
    router.prefix("/llm", llm.handle);
    closers.push(llm.close);
  }
  const telegram = spec.messengers.telegram;
  if (telegram) {
    const token = readSecret("messengers.telegram.botToken", telegram.botToken, opts.env);
    const relay = createTelegramRelay(spec, token, { audit, registry: opts.registry, lookup, bodyBudget });
    router.prefix("/telegram", relay.handle);
    closers.push(relay.close);
  }
  return {
    close() {
      for (const close of closers) close();
    },
  };
}
