// The usage meter of the LLM routes: a call's worst case is reserved against the provider's daily
// budget before it is forwarded, and settled to what it measurably cost once it ended; the
// spend and token series follow. A spent budget refuses with what the official SDKs need to not
// retry it.
import type { Registry } from "prom-client";
import type { Forward } from "./admission.js";
import type { Budget, Reservation } from "./budget.js";
import type { CallResult } from "./forward.js";
import { llmMetrics } from "./metrics.js";
import { costOf } from "./prices.js";
import type { LlmAuditRecord } from "./routes.js";

export interface OverBudget {
  status: 429;
  reason: string;
  headers: Record<string, string | number>;
}

// What a settled call adds to its audit record.
export type MeteredFields = Pick<
  LlmAuditRecord,
  | "model"
  | "inputTokens"
  | "outputTokens"
  | "cacheReadTokens"
  | "cacheWriteTokens"
  | "costUsd"
  | "reservedUsd"
  | "charged"
  | "priceSource"
>;

export class UsageMeter {
  private readonly metrics;

  constructor(
    readonly budget: Budget,
    registry: Registry,
    providers: string[],
    private readonly clock: () => Date,
  ) {
    this.metrics = llmMetrics(registry, budget, providers);
  }

  counted(provider: string, outcome: LlmAuditRecord["outcome"]): void {
    this.metrics.requests.inc({ provider, outcome });
  }

  // Checked before the body is read: a spent day refuses at once.
  spentOut(provider: string): OverBudget | undefined {
    const b = this.budget;
    if (!b.exhausted(provider)) return undefined;
    return this.overBudget(
      `daily budget for ${provider} is spent ($${b.spent(provider).toFixed(4)} of $${b.limit(provider)})`,
    );
  }

  reserve(provider: string, admitted: Forward): { hold: Reservation } | OverBudget {
    const b = this.budget;
    const hold = b.reserve(provider, admitted.reservationUsd);
    if (hold.ok) return { hold: hold.reservation };
    return this.overBudget(
      `this call may cost up to $${admitted.reservationUsd.toFixed(4)} (${admitted.model}, every input ` +
        `byte a token plus its whole output allowance; lower max_tokens to ask for less) and ` +
        `$${hold.leftUsd.toFixed(4)} of ${provider}'s $${b.limit(provider)} daily budget is left`,
    );
  }

  settle(provider: string, admitted: Forward, reservation: Reservation, result: CallResult): MeteredFields {
    // A path the owner opened that names no model has no price: its usage is not charged.
    const measured = admitted.price ? costOf(result.usage, admitted.price) : 0;
    const costUsd =
      result.billing === "none"
        ? 0
        : result.billing === "reservation"
          ? Math.max(measured, reservation.usd)
          : measured;
    this.budget.settle(reservation, costUsd);
    this.metrics.spend.inc({ provider }, costUsd);
    const u = result.usage;
    for (const [kind, n] of [
      ["input", u.inputTokens],
      ["output", u.outputTokens],
      ["cache_read", u.cacheReadTokens],
      ["cache_write", u.cacheWriteTokens],
    ] as const) {
      if (n) this.metrics.tokens.inc({ provider, kind }, n);
    }
    return {
      model: admitted.model ?? u.model,
      inputTokens: u.inputTokens,
      outputTokens: u.outputTokens,
      cacheReadTokens: u.cacheReadTokens,
      cacheWriteTokens: u.cacheWriteTokens,
      costUsd,
      reservedUsd: reservation.usd,
      charged: result.billing,
      priceSource: admitted.priceSource,
    };
  }

  private overBudget(message: string): OverBudget {
    const resets = this.budget.resetsAt();
    return {
      status: 429,
      reason: `${message}; it resets at ${resets.toISOString()}`,
      headers: {
        "retry-after": Math.max(1, Math.ceil((resets.getTime() - this.clock().getTime()) / 1000)),
        // Both official SDKs honour this and do not retry a spent budget.
        "x-should-retry": "false",
      },
    };
  }
}
