// Prometheus metrics, served on their own loopback-only port so the agent never reaches them.
import { createServer, type Server } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { classify } from "../spec/addresses.js";
import type { AuditDecision } from "./audit.js";

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly decisions = new Counter({
    name: "moat_gateway_decisions_total",
    help: "Gateway decisions by outcome and reason code.",
    labelNames: ["decision", "code"] as const,
    registers: [this.registry],
  });
  readonly activeTunnels = new Gauge({
    name: "moat_gateway_active_tunnels",
    help: "CONNECT tunnels open now.",
    registers: [this.registry],
  });
  private readonly bytes = new Counter({
    name: "moat_gateway_bytes_total",
    help: "Bytes relayed, up (agent to world) and down.",
    labelNames: ["direction"] as const,
    registers: [this.registry],
  });
  private readonly setup = new Histogram({
    name: "moat_gateway_setup_seconds",
    help: "From request to upstream connected (tunnel) or response headers (http), DNS included.",
    labelNames: ["kind"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly clientErrors = new Counter({
    name: "moat_gateway_client_errors_total",
    help: "Malformed or timed-out client requests, by error code.",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
  // SIGHUP: applied whole, or refused whole (the previous configuration kept).
  readonly reloads = new Counter({
    name: "moat_gateway_reloads_total",
    help: "SIGHUP reloads of moat.yaml by result (applied, refused).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  // Label children cached: the hot path then skips prom-client's label hashing.
  private readonly decisionChildren = new Map<string, ReturnType<typeof this.decisions.labels>>();
  private readonly up = this.bytes.labels("up");
  private readonly down = this.bytes.labels("down");
  private readonly setupTunnel = this.setup.labels("tunnel");
  private readonly setupHttp = this.setup.labels("http");

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Both series from the start, so "refused > 0" can be alerted on before the first reload.
    for (const result of ["applied", "refused"]) this.reloads.labels(result);
  }

  decision(decision: AuditDecision, code: string): void {
    const key = `${decision}|${code}`;
    let child = this.decisionChildren.get(key);
    if (!child) {
      child = this.decisions.labels(decision, code);
      this.decisionChildren.set(key, child);
    }
    child.inc();
  }

  relayed(up: number, down: number): void {
    if (up) this.up.inc(up);
    if (down) this.down.inc(down);
  }

  setupTook(kind: "tunnel" | "http", seconds: number): void {
    (kind === "tunnel" ? this.setupTunnel : this.setupHttp).observe(seconds);
  }
}

export function serveMetrics(metrics: GatewayMetrics, host: string, port: number): Promise<Server> {
  if (classify(host).class !== "loopback") {
    return Promise.reject(new Error(`metrics must listen on loopback, not ${host}`));
  }
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${err.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
