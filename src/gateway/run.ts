// Wiring for `moat gateway`: spec → policy, resolver, audit log, metrics, the server, and
// the signals (SIGHUP reloads the allowlist in place; SIGTERM/SIGINT drain within a bound).
import type { Server } from "node:http";
import { loadSpecFile } from "../spec/load.js";
import type { MoatSpec } from "../spec/schema.js";
import { mountAgentRoutes } from "./agent-routes.js";
import { type AuditSink, openAuditLog } from "./audit.js";
import type { Pipeline } from "./decide.js";
import type { Dialer } from "./dial.js";
import { installLastResort } from "./last-resort.js";
import { GatewayMetrics, serveMetrics } from "./metrics.js";
import { policyFromSpec } from "./policy.js";
import { DnsResolver } from "./resolve.js";
import { defaultRouter, type InternalRouter } from "./router.js";
import { Gateway, type GatewayLimits } from "./server.js";
import { parseAuthority } from "./target.js";
import type { checkUpstreamHead } from "./upstream-head.js";

export interface GatewayRunOptions {
  config: string;
  // host:port; default gateway.address:gateway.port from moat.yaml.
  listen?: string;
  // host:port on loopback, or "off"; default 127.0.0.1:gateway.metricsPort.
  metricsListen?: string;
  auditLog: string;
  auditMaxBytes?: number;
  // Resolver addresses; default the system's (/etc/resolv.conf).
  dns?: string[];
  dnsTimeoutMs: number;
  drainMs: number;
  // Deadline for a request body on the LLM and Telegram routes; default bodyLimitsFor(spec).
  bodyDeadlineMs?: number;
  // Budget state of the LLM routes; default STATE_DIR.
  stateDir?: string;
  limits: Partial<GatewayLimits>;
}

// Test-only replacements (negative controls) and issue 4's routes.
export interface GatewaySeams {
  pipeline?: Pipeline;
  dial?: Dialer;
  router?: InternalRouter;
  headCheck?: typeof checkUpstreamHead;
  // false only in the negative control that shows what the net catches.
  lastResort?: boolean;
}

export interface RunningGateway {
  gateway: Gateway;
  spec: MoatSpec;
  listen: { host: string; port: number };
  metricsListen?: { host: string; port: number };
  reload(): string;
  stop(): Promise<void>;
}

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const p = parseAuthority(text);
  if (!p.ok || p.target.ip === undefined) throw new Error(`${what} must be IP:PORT, got "${text}"`);
  return { host: p.target.ip, port: p.target.port };
}

const log = (line: string) => process.stderr.write(`moat gateway: ${line}\n`);

export async function startGateway(
  opts: GatewayRunOptions,
  seams: GatewaySeams = {},
): Promise<RunningGateway> {
  const spec = loadSpecFile(opts.config);
  const listen = opts.listen
    ? parseHostPort(opts.listen, "--listen")
    : { host: spec.gateway.address, port: spec.gateway.port };
  const metricsListen =
    opts.metricsListen === "off"
      ? undefined
      : opts.metricsListen
        ? parseHostPort(opts.metricsListen, "--metrics-listen")
        : { host: "127.0.0.1", port: spec.gateway.metricsPort };
  const selfAuthorities = [`${spec.gateway.address}:${spec.gateway.port}`];
  if (listen.host !== "0.0.0.0" && listen.host !== "::") {
    selfAuthorities.push(
      listen.host.includes(":") ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`,
    );
  }

  const audit: AuditSink = openAuditLog(opts.auditLog, { maxBytes: opts.auditMaxBytes });
  const metrics = new GatewayMetrics();
  const resolver = new DnsResolver(opts.dnsTimeoutMs, opts.dns);
  // Issue 4: /llm/<name>/… and /telegram/… for the agent (reads the secrets it needs).
  const router = seams.router ?? defaultRouter();
  let agentRoutes: { close(): void };
  try {
    agentRoutes = mountAgentRoutes(router, spec, {
      audit,
      registry: metrics.registry,
      resolver,
      stateDir: opts.stateDir,
      bodyDeadlineMs: opts.bodyDeadlineMs,
    });
  } catch (err) {
    audit.close();
    throw err;
  }
  const { lastResort: _, ...gatewaySeams } = seams;
  const gateway = new Gateway({
    policy: policyFromSpec(spec),
    resolver,
    selfAuthorities,
    limits: opts.limits,
    audit,
    metrics,
    ...gatewaySeams,
    router,
  });
  let metricsServer: Server | undefined;
  try {
    if (metricsListen) metricsServer = await serveMetrics(metrics, metricsListen.host, metricsListen.port);
    const bound = await gateway.listen(listen.host, listen.port);
    listen.port = bound.port;
  } catch (err) {
    metricsServer?.close();
    audit.close();
    throw err;
  }
  if (metricsServer && metricsListen) {
    const a = metricsServer.address();
    if (a && typeof a === "object") metricsListen.port = a.port;
  }

  return {
    gateway,
    spec,
    listen,
    metricsListen,
    // Re-read moat.yaml and swap the policy; open tunnels are untouched. A broken file
    // keeps the old policy, so a typo cannot open or close the world.
    reload() {
      const next = loadSpecFile(opts.config);
      gateway.setPolicy(policyFromSpec(next));
      return `reloaded ${opts.config}: mode ${next.egress.mode}, ${next.egress.allow.length} allow entries`;
    },
    async stop() {
      await gateway.drain(opts.drainMs);
      // close() waits for open connections, so cut keep-alive scrapers first.
      if (metricsServer) {
        const closed = new Promise<void>((r) => metricsServer?.close(() => r()));
        metricsServer.closeAllConnections();
        await closed;
      }
      agentRoutes.close();
      audit.close();
    },
  };
}

// The long-running command: start, then live until SIGTERM/SIGINT.
export async function runGateway(opts: GatewayRunOptions, seams: GatewaySeams = {}): Promise<void> {
  if (seams.lastResort !== false) installLastResort(log);
  const running = await startGateway(opts, seams);
  const { listen, metricsListen, spec } = running;
  await new Promise<void>((resolve) => {
    const onHup = () => {
      try {
        log(running.reload());
      } catch (err) {
        log(`reload failed, keeping the previous policy: ${(err as Error).message}`);
      }
    };
    const onStop = (signal: string) => {
      process.off("SIGHUP", onHup);
      log(`${signal}: draining (up to ${opts.drainMs} ms, ${running.gateway.activeTunnels} tunnels open)`);
      running.stop().then(() => {
        log("stopped");
        resolve();
      }, resolve);
    };
    process.on("SIGHUP", onHup);
    process.once("SIGTERM", () => onStop("SIGTERM"));
    process.once("SIGINT", () => onStop("SIGINT"));
    // Announced only once the handlers are in: a supervisor may signal the moment it reads this.
    log(
      `listening on ${listen.host}:${listen.port} (mode ${spec.egress.mode}), ` +
        `metrics ${metricsListen ? `${metricsListen.host}:${metricsListen.port}` : "off"}, audit ${opts.auditLog}`,
    );
  });
}
