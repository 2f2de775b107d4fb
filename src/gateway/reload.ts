// What a reload cannot apply in place. The listeners are bound once: moving the agent-facing
// address or port, or the metrics port, needs a restart, so such a file is refused whole.
import type { MoatSpec } from "../spec/schema.js";

const FIXED_AT_START = ["address", "port", "metricsPort"] as const;

export function restartNeeded(running: MoatSpec, next: MoatSpec): string | undefined {
  const moved = FIXED_AT_START.filter((k) => running.gateway[k] !== next.gateway[k]).map(
    (k) => `gateway.${k} ${running.gateway[k]} → ${next.gateway[k]}`,
  );
  if (moved.length === 0) return undefined;
  return `${moved.join(", ")}: the listener cannot move while running, restart needed`;
}
