// Prometheus series for the LLM routes. Reusing an existing series by name lets the routes be
// rebuilt (config reload) on the same registry without a duplicate-registration error.
import { Gauge, type Registry } from "prom-client";
import { routeCounter as counter } from "../route-metrics.js";
import type { Budget } from "./budget.js";

export function llmMetrics(registry: Registry, budget: Budget, providers: string[]) {
  const requests = counter(registry, "moat_llm_requests_total", "LLM route requests by outcome", [
    "provider",
    "outcome",
  ]);
  const tokens = counter(registry, "moat_llm_tokens_total", "Tokens reported by the providers", [
    "provider",
    "kind",
  ]);
  const spend = counter(registry, "moat_llm_spend_usd_total", "Priced spend since the gateway started", [
    "provider",
  ]);
  // Today's spend and the limit are read from the budget at scrape time, so they survive restarts.
  for (const name of ["moat_llm_spend_today_usd", "moat_llm_budget_daily_usd"]) {
    registry.removeSingleMetric(name);
  }
  new Gauge({
    name: "moat_llm_spend_today_usd",
    help: "Spend counted against today's budget (UTC day)",
    labelNames: ["provider"],
    registers: [registry],
    collect() {
      for (const p of providers) this.set({ provider: p }, budget.spent(p));
    },
  });
  new Gauge({
    name: "moat_llm_budget_daily_usd",
    help: "Daily budget from moat.yaml",
    labelNames: ["provider"],
    registers: [registry],
    collect() {
      for (const p of providers) {
        const limit = budget.limit(p);
        if (limit !== undefined) this.set({ provider: p }, limit);
      }
    },
  });
  return { requests, tokens, spend };
}
