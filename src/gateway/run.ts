// Wiring for `moat gateway`: spec → policy, resolver, audit log, metrics, the server, and
// the signals (SIGHUP reloads everything the gateway takes from moat.yaml, or nothing;
// SIGTERM/SIGINT drain within a bound).
import type { Server } from "node:http";
import { loadSpecFile } from "../spec/load.js";
import type { MoatSpec } from "../spec/schema.js";
import { type AgentRoutes, mountAgentRoutes } from "./agent-routes.js";
import { type AuditSink, openAuditLog } from "./audit.js";
import type { Pipeline } from "./decide.js";
import type { Dialer } from "./dial.js";
import { installLastResort } from "./last-resort.js";
import type { GatewayLimits } from "./limits.js";
import { GatewayMetrics, serveMetrics } from "./metrics.js";
import { policyFromSpec } from "./policy.js";
import { pullAudit, pullListenAddress, pullPolicyFromSpec } from "./pull-listener.js";
import { restartNeeded } from "./reload.js";
import { DnsResolver } from "./resolve.js";
import { defaultRouter, InternalRouter } from "./router.js";
import { Gateway } from "./server.js";
import { parseAuthority } from "./target.js";
import type { checkUpstreamHead } from "./upstream-head.js";

export interface GatewayRunOptions {
  config: string;
  // host:port; default gateway.address:gateway.port from moat.yaml.
  listen?: string;
  // host:port on loopback, or "off"; default 127.0.0.1:gateway.metricsPort.
  metricsListen?: string;
  // host:port on loopback, or "off"; host apply's image pulls (pull-listener.ts). Default
  // 127.0.0.1:gateway.port, or off when --listen is given (tests run several gateways).
  pullListen?: string;
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

interface RunningGateway {
  gateway: Gateway;
  spec: MoatSpec;
  listen: { host: string; port: number };
  metricsListen?: { host: string; port: number };
  pullListen?: { host: string; port: number };
  // Applies the file whole or refuses it whole; never throws. The line is for the log.
  reload(): { applied: boolean; line: string };
  stop(): Promise<void>;
}

function parseHostPort(text: string, what: string): { host: string; port: number } {
  const p = parseAuthority(text);
  if (!p.ok || p.target.ip === undefined) throw new Error(`${what} must be IP:PORT, got "${text}"`);
  return { host: p.target.ip, port: p.target.port };
}

const log = (line: string) => process.stderr.write(`moat gateway: ${line}\n`);

async function startGateway(opts: GatewayRunOptions, seams: GatewaySeams = {}): Promise<RunningGateway> {
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
  const pullListen =
    opts.pullListen === "off" || (opts.pullListen === undefined && opts.listen)
      ? undefined
      : opts.pullListen
        ? parseHostPort(opts.pullListen, "--pull-listen")
        : pullListenAddress(spec);
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
  let agentRoutes: AgentRoutes;
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
  // Its own Gateway: no routes of the agent's, no self-authorities, its own policy.
  const pullGateway = pullListen
    ? new Gateway({
        policy: pullPolicyFromSpec(spec),
        resolver,
        selfAuthorities: [],
        limits: opts.limits,
        audit: pullAudit(audit),
        router: new InternalRouter(),
      })
    : undefined;
  let metricsServer: Server | undefined;
  try {
    if (metricsListen) metricsServer = await serveMetrics(metrics, metricsListen.host, metricsListen.port);
    const bound = await gateway.listen(listen.host, listen.port);
    listen.port = bound.port;
    if (pullGateway && pullListen)
      pullListen.port = (await pullGateway.listen(pullListen.host, pullListen.port)).port;
  } catch (err) {
    metricsServer?.close();
    gateway.server.close();
    audit.close();
    throw err;
  }
  if (metricsServer && metricsListen) {
    const a = metricsServer.address();
    if (a && typeof a === "object") metricsListen.port = a.port;
  }

  let running = spec;
  return {
    gateway,
    spec,
    listen,
    metricsListen,
    pullListen,
    // Build everything from the new file first (policy, LLM routes, relay, their secrets), then
    // swap it all in the same tick; open tunnels and requests in flight keep what they started
    // with. A file that cannot be applied whole changes nothing, so a typo or a missing secret
    // can neither open nor close the world, nor leave it half old, half new.
    reload() {
      let next: MoatSpec;
      let policy: ReturnType<typeof policyFromSpec>;
      let routes: ReturnType<AgentRoutes["prepare"]>;
      try {
        next = loadSpecFile(opts.config);
        const restart = restartNeeded(running, next);
        if (restart) throw new Error(restart);
        policy = policyFromSpec(next);
        routes = agentRoutes.prepare(next);
      } catch (err) {
        metrics.reloads.inc({ result: "refused" });
        const reason = (err as Error).message;
        return { applied: false, line: `reload refused, keeping everything as it was: ${reason}` };
      }
      gateway.setPolicy(policy);
      pullGateway?.setPolicy(pullPolicyFromSpec(next));
      agentRoutes.swap(routes);
      running = next;
      metrics.reloads.inc({ result: "applied" });
      const tg = next.messengers.telegram;
      return {
        applied: true,
        line:
          `reloaded ${opts.config}: mode ${next.egress.mode}, ${next.egress.allow.length} allow entries, ` +
          `llm [${next.llm.map((p) => p.name).join(", ")}], ` +
          `telegram ${tg ? `${tg.allowFrom.length} users, ${tg.allowChats.length} chats` : "off"}`,
      };
    },
    async stop() {
      await Promise.all([gateway.drain(opts.drainMs), pullGateway?.drain(opts.drainMs)]);
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
    const onHup = () => log(running.reload().line);
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
        `metrics ${metricsListen ? `${metricsListen.host}:${metricsListen.port}` : "off"}, ` +
        `pulls ${running.pullListen ? `${running.pullListen.host}:${running.pullListen.port}` : "off"}, audit ${opts.auditLog}`,
    );
  });
}
