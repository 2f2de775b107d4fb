// Request bodies the gateway's own routes must hold whole (an LLM call's JSON, a Telegram
// upload) are read through one shared budget, so no number of parallel or slow requests can
// exhaust the gateway's memory: a cap on the bytes held across all requests, a cap on the
// body-carrying requests one client has in flight, and a deadline for a body to arrive.
// Bytes stay reserved until the reply is finished, since the body is held until then.

import type { IncomingMessage, ServerResponse } from "node:http";
import { MoatError } from "../errors.js";
import type { MoatSpec } from "../spec/schema.js";

export interface BodyLimits {
  // Bytes held at once across every request.
  totalBytes: number;
  // Body-carrying requests one client address may have in flight.
  perClient: number;
  // The whole body must arrive within this.
  deadlineMs: number;
}

const MiB = 1 << 20;
// The largest bodies each route accepts: what the providers and the Bot API themselves take.
export const LLM_MAX_BODY = 32 * MiB;
export const TELEGRAM_MAX_UPLOAD = 52 * MiB; // the Bot API's own upload limit is 50 MB

// One maximal body always fits, with room beside it for ordinary small calls.
export function bodyLimitsFor(spec: MoatSpec): BodyLimits {
  const largest = Math.max(
    spec.llm.length ? LLM_MAX_BODY : 0,
    spec.messengers.telegram ? TELEGRAM_MAX_UPLOAD : 0,
  );
  return { totalBytes: largest + 16 * MiB, perClient: 4, deadlineMs: 60_000 };
}

// The gateway unit's memory: Node and the routes at rest, plus the budget times what a held
// body costs on the way through (the raw chunks, their concatenation, the parsed JSON and its
// re-serialisation). MemoryHigh throttles and reclaims first; MemoryMax is the hard stop.
// Measured (test/integration/gateway-memory.test.ts): 116 MiB at rest under tsx, and about 5×
// the bytes held at the peak of a flood; 6× leaves headroom without a cliff.
const BASE_MEMORY = 128 * MiB;
const BODY_AMPLIFICATION = 6;
export function gatewayMemory(spec: MoatSpec): { high: number; max: number } {
  const high = BASE_MEMORY + BODY_AMPLIFICATION * bodyLimitsFor(spec).totalBytes;
  return { high, max: high + high / 2 };
}

export class BodyRefused extends MoatError {
  override readonly name = "BodyRefused";
  readonly code = "MOAT_BODY_REFUSED";
  constructor(
    readonly status: 408 | 413 | 429 | 503,
    message: string,
  ) {
    super(message);
  }
}

const mib = (n: number) => (n < MiB ? `${n} bytes` : `${Math.round((n / MiB) * 10) / 10} MiB`);

export class BodyBudget {
  private held = 0;
  private readonly perClient = new Map<string, number>();

  constructor(readonly limits: BodyLimits) {}

  get heldBytes(): number {
    return this.held;
  }

  // The body of `req`, at most `maxBytes`; reserved against the budget until `res` closes.
  read(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<Buffer> {
    const client = req.socket.remoteAddress ?? "";
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > maxBytes)
      return Promise.reject(new BodyRefused(413, `request body over ${maxBytes} bytes`));
    const inFlight = this.perClient.get(client) ?? 0;
    if (inFlight >= this.limits.perClient) {
      return Promise.reject(
        new BodyRefused(429, `more than ${this.limits.perClient} request bodies in flight from ${client}`),
      );
    }
    let reserved = 0;
    // Chunked bodies grow their reservation as they arrive; a declared length is taken at once.
    let released = false;
    const reserve = (bytes: number): boolean => {
      if (released) return false;
      if (bytes <= reserved) return true;
      if (this.held - reserved + bytes > this.limits.totalBytes) return false;
      this.held += bytes - reserved;
      reserved = bytes;
      return true;
    };
    const full = () =>
      new BodyRefused(
        503,
        `the gateway holds ${mib(this.held)} of request bodies, its limit is ${mib(this.limits.totalBytes)}; retry shortly`,
      );
    if (!reserve(declared)) return Promise.reject(full());
    this.perClient.set(client, inFlight + 1);
    const release = () => {
      if (released) return;
      released = true;
      this.held -= reserved;
      reserved = 0;
      const n = (this.perClient.get(client) ?? 1) - 1;
      if (n <= 0) this.perClient.delete(client);
      else this.perClient.set(client, n);
    };
    // The reply is done (or the client gone): the body is no longer held.
    res.once("close", release);

    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        chunks.length = 0;
        // The rest of the body is not wanted: stop reading it, and let the reply close the socket.
        req.pause();
        res.shouldKeepAlive = false;
        release();
        reject(err);
      };
      const timer = setTimeout(
        () =>
          fail(new BodyRefused(408, `request body not received within ${this.limits.deadlineMs / 1000} s`)),
        this.limits.deadlineMs,
      );
      req.on("data", (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size > maxBytes) return fail(new BodyRefused(413, `request body over ${maxBytes} bytes`));
        if (!reserve(size)) return fail(full());
        chunks.push(chunk);
      });
      req.on("end", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(Buffer.concat(chunks, size));
      });
      req.on("error", fail);
      req.on("aborted", () => fail(new Error("client aborted")));
      res.once("close", () => fail(new Error("client closed before its body arrived")));
    });
  }
}
