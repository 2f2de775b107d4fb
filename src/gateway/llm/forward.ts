// The forwarder of an admitted LLM call: send it to the provider's base URL through the shared
// upstream dialer, pass the reply to the agent as it arrives while reading its usage on the way,
// and say how the call ended and how it is to be billed. The meter (./meter.ts) charges it.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { LlmKind } from "../../spec/schema.js";
import { withoutHopByHop } from "../headers.js";
import { sendJson } from "../route-http.js";
import { type UpstreamDialer, UpstreamTimeout } from "../upstream/dial.js";
import { checkUpstreamHead } from "../upstream-head.js";
import { providerErrorBody } from "./errors.js";
import type { LlmAuditRecord } from "./routes.js";
import {
  EMPTY_USAGE,
  mergeUsage,
  parseJson,
  SseTap,
  type Usage,
  type UsageReport,
  usageFamily,
  usageFromResponse,
  usageFromStreamEvent,
} from "./usage.js";

// "measured": the reply's own usage report; "reservation": the reply ended without one we could
// read (cut off, truncated, unknown shape), so the worst case is charged, never zero; "none": the
// call never reached the provider.
export type Billing = "measured" | "reservation" | "none";

export interface CallResult {
  status: number;
  outcome: LlmAuditRecord["outcome"];
  reason?: string;
  stream: boolean;
  usage: Usage;
  billing: Billing;
}

export interface LlmForward {
  // The provider's base URL: the host is fixed by it; the agent chooses only the path under it.
  root: URL;
  kind: LlmKind;
  method: string;
  pathAndQuery: string;
  headers: OutgoingHttpHeaders;
  body: Buffer;
  // Longest silence from a provider mid-reply before the call is cut (long thinking is silent).
  idleMs: number;
}

const MAX_TAPPED_BODY = 8 << 20;

export function forwardLlmCall(
  dialer: UpstreamDialer,
  call: LlmForward,
  res: ServerResponse,
): Promise<CallResult> {
  const family = usageFamily(call.kind);
  let usage: Usage = { ...EMPTY_USAGE };
  // Usage reports named both input and output tokens (an empty `usage: {}` is no report).
  let inputSeen = false;
  let outputSeen = false;
  const take = (report: UsageReport) => {
    if (report.inputTokens !== undefined) inputSeen = true;
    if (report.outputTokens !== undefined) outputSeen = true;
    usage = mergeUsage(usage, report);
  };

  return new Promise<CallResult>((resolve) => {
    let settled = false;
    const finish = (r: Omit<CallResult, "usage">) => {
      if (settled) return;
      settled = true;
      resolve({ ...r, usage });
    };
    const { req: upstream, reached } = dialer.open({
      root: call.root,
      method: call.method,
      path: call.pathAndQuery,
      headers: call.headers,
      body: call.body,
      idleMs: call.idleMs,
    });

    // The agent went away mid-call. Usage comes last, so cutting the provider off would leave
    // the call uncounted (a way around the budget); the gateway reads the reply to its end,
    // discarding it, and charges the usage report. That costs at most the rest of one reply,
    // bounded by the request's own token limit and the idle timeout.
    let agentGone = false;
    let reply: IncomingMessage | undefined;
    res.on("close", () => {
      if (res.writableFinished) return;
      agentGone = true;
      reply?.resume();
    });

    upstream.on("error", (err: Error) => {
      const status = err instanceof UpstreamTimeout ? 504 : 502;
      if (!res.headersSent) {
        sendJson(res, status, providerErrorBody(call.kind, status, `moat: upstream ${err.message}`));
      } else {
        res.destroy();
      }
      const billing = reached() ? "reservation" : "none";
      finish({ status, outcome: "upstream_error", reason: err.message, stream: false, billing });
    });

    upstream.on("response", (up) => {
      reply = up;
      const head = checkUpstreamHead(up.statusCode, up.statusMessage, up.rawHeaders);
      if (!head.ok) {
        up.resume();
        if (!agentGone) sendJson(res, 502, providerErrorBody(call.kind, 502, `moat: ${head.reason}`));
        // The provider answered, so it may have billed: charge the reservation.
        finish({
          status: 502,
          outcome: "upstream_error",
          reason: head.reason,
          stream: false,
          billing: "reservation",
        });
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
      });
    });

    upstream.end(call.body);
  });
}
