// The egress server's bounds on time and size (`moat gateway` flags override the defaults).
export interface GatewayLimits {
  connectTimeoutMs: number;
  // A tunnel or forwarded request with no bytes either way for this long is closed.
  idleTimeoutMs: number;
  // The whole request head must arrive within this (slowloris).
  headersTimeoutMs: number;
  maxHeaderBytes: number;
  maxTunnelsPerClient: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  headersTimeoutMs: 10_000,
  maxHeaderBytes: 16_384,
  maxTunnelsPerClient: 512,
};
