// Prometheus counters for the gateway's own routes (LLM, Telegram). A reload rebuilds the routes
// on the same registry; reusing a series by name spares a duplicate-registration error.
import { Counter, type Registry } from "prom-client";

export function routeCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}
