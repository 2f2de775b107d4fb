// getUpdates through the relay. Telegram confirms (deletes) every update below the `offset` of a
// getUpdates call, so the offset the relay sends upstream must never pass an update the agent
// has not confirmed itself, and yet dropped updates must be confirmed, or the agent would be
// handed an empty batch, ask again at once and spin on them.
//
// The relay therefore keeps one number, `confirmedBelow`: every update below it was either
// confirmed by the agent (its own offset) or dropped by the relay. Upstream it sends
// max(agent offset, confirmedBelow), and it moves confirmedBelow only over a batch's leading
// dropped updates. If the relay restarts it forgets the number and starts again from the
// agent's offset: Telegram hands back the dropped updates, they are dropped again, and nothing
// the agent has not confirmed was ever confirmed. So nothing needs to be persisted.
import type { DroppedUpdate, Update } from "./updates.js";

export interface BotResponse {
  ok: boolean;
  result?: unknown;
  error_code?: number;
  description?: string;
  [k: string]: unknown;
}

export interface OffsetKeeper {
  confirmedBelow: number;
}

export interface PollDeps {
  upstream: (params: Record<string, unknown>) => Promise<BotResponse>;
  judge: (updates: Update[]) => { deliver: Update[]; drop: DroppedUpdate[] };
  onDrop: (dropped: DroppedUpdate[]) => void;
  now?: () => number;
}

// Telegram's own limit on a long poll is generous; the relay caps it so a call cannot pin a
// connection for hours.
const MAX_TIMEOUT_S = 600;
// A Bot API server answering all-dropped batches below the requested offset would otherwise
// keep the loop going until the agent's timeout; a bound makes that impossible.
const MAX_ROUNDS = 100;

function intParam(value: unknown): number | undefined | null {
  if (value === undefined || value === null || value === "") return undefined;
  const n = typeof value === "number" ? value : /^-?\d+$/.test(String(value).trim()) ? Number(value) : NaN;
  return Number.isSafeInteger(n) ? n : null;
}

const badRequest = (description: string): BotResponse => ({
  ok: false,
  error_code: 400,
  description: `Bad Request: ${description}`,
});

export async function relayGetUpdates(
  params: Record<string, unknown>,
  keeper: OffsetKeeper,
  deps: PollDeps,
): Promise<BotResponse> {
  const now = deps.now ?? Date.now;
  const agentOffset = intParam(params.offset);
  const limit = intParam(params.limit);
  const timeout = intParam(params.timeout);
  if (agentOffset === null) return badRequest("offset is not an integer");
  if (limit === null) return badRequest("limit is not an integer");
  if (timeout === null) return badRequest("timeout is not an integer");
  const timeoutS = Math.min(Math.max(timeout ?? 0, 0), MAX_TIMEOUT_S);
  const deadline = now() + timeoutS * 1000;
  const passOn: Record<string, unknown> = {};
  if (limit !== undefined) passOn.limit = limit;
  if (params.allowed_updates !== undefined) passOn.allowed_updates = params.allowed_updates;

  // A negative offset asks for the last updates only (and confirms the rest): the agent's call,
  // relayed as it is, filtered as usual.
  const negative = agentOffset !== undefined && agentOffset < 0;
  if (!negative && agentOffset !== undefined && agentOffset > keeper.confirmedBelow) {
    keeper.confirmedBelow = agentOffset;
  }
  let offset = negative ? agentOffset : keeper.confirmedBelow || agentOffset;

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const remaining = Math.max(0, Math.ceil((deadline - now()) / 1000));
    const reply = await deps.upstream({
      ...passOn,
      ...(offset !== undefined ? { offset } : {}),
      timeout: remaining,
    });
    if (!reply.ok || !Array.isArray(reply.result)) return reply;
    const updates = reply.result as Update[];
    // An empty batch means Telegram's own long poll ran out: so has the agent's.
    if (updates.length === 0) return { ok: true, result: [] };
    const { deliver, drop } = deps.judge(updates);
    if (drop.length) deps.onDrop(drop);
    if (negative) return { ok: true, result: deliver };

    // Updates before the first delivered one were all dropped; so was the whole batch if
    // nothing is delivered. Only those may be confirmed upstream on the agent's behalf.
    const firstKept = deliver[0]?.update_id;
    const last = updates[updates.length - 1]?.update_id;
    const droppedUpTo = firstKept ?? (last !== undefined ? last + 1 : undefined);
    if (droppedUpTo !== undefined && droppedUpTo > keeper.confirmedBelow) keeper.confirmedBelow = droppedUpTo;

    if (deliver.length || remaining === 0) return { ok: true, result: deliver };
    offset = keeper.confirmedBelow || offset;
  }
  return { ok: true, result: [] };
}
