// CONNECT tunnels: vet the target, dial a vetted address, answer 200, hold the tunnel until its
// ClientHello names the vetted host (on a TLS port), then splice the two sockets. Each tunnel is
// one Exchange: an "open" record once established, one final record at close or refusal.
import type { Socket } from "node:net";
import { DialError, type Dialer } from "./dial.js";
import type { Exchange, Refusal } from "./exchange.js";
import { ACCESS_DENIED_ALERT, readHello } from "./hello-reader.js";
import type { GatewayLimits } from "./limits.js";
import type { Policy } from "./policy.js";
import { ESTABLISHED, rawReply, refusalLine } from "./replies.js";
import { shownSni, sniVerdict } from "./sni.js";
import type { Target } from "./target.js";
import { type Vetting, vet } from "./vet.js";

interface TunnelDeps extends Vetting {
  limits: GatewayLimits;
  dial: Dialer;
}

const noop = () => {};

// Answer a CONNECT the gateway will not open, and end its exchange.
export function refuseTunnel(socket: Socket, ex: Exchange, r: Refusal): void {
  rawReply(socket, r.status, refusalLine(r));
  ex.refuse(r);
}

// The tunnels of one listener: how many each client holds, and every open one (so a drain can
// cut them).
export class Tunnels {
  // Client socket → upstream socket, spliced or waiting for the ClientHello.
  private readonly open = new Map<Socket, Socket>();
  private readonly perClient = new Map<string, number>();

  constructor(private readonly deps: TunnelDeps) {}

  get size(): number {
    return this.open.size;
  }

  // Over the client's tunnel limit: refused here; otherwise counted against it until it ends.
  start(ex: Exchange, socket: Socket, target: Target, head: Buffer, policy: Policy): void {
    const { limits, metrics } = this.deps;
    const client = ex.client;
    const held = this.perClient.get(client) ?? 0;
    if (held >= limits.maxTunnelsPerClient) {
      const reason = `more than ${limits.maxTunnelsPerClient} tunnels from ${client}`;
      metrics?.decision("deny", "tunnel-limit");
      refuseTunnel(socket, ex, { decision: "deny", code: "tunnel-limit", reason, status: 429 });
      return;
    }
    this.perClient.set(client, held + 1);
    this.openTunnel(ex, socket, target, head, policy).catch((err) => {
      socket.destroy();
      process.emitWarning(`moat gateway: tunnel setup failed: ${(err as Error).stack ?? err}`);
    });
  }

  cutAll(): void {
    for (const [client, upstream] of this.open) {
      client.destroy();
      upstream.destroy();
    }
  }

  private release(client: string): void {
    const n = (this.perClient.get(client) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(client);
    else this.perClient.set(client, n);
  }

  private async openTunnel(ex: Exchange, socket: Socket, target: Target, head: Buffer, policy: Policy) {
    const { limits, metrics } = this.deps;
    const vetted = await vet(this.deps, "CONNECT", target, policy);
    if (!vetted.ok) {
      this.release(ex.client);
      refuseTunnel(socket, ex, vetted.refusal);
      return;
    }
    const { verdict } = vetted;
    let upstream: Socket;
    try {
      upstream = await this.deps.dial({
        name: target.host,
        addrs: verdict.addrs,
        port: target.port,
        timeoutMs: limits.connectTimeoutMs,
      });
    } catch (err) {
      this.release(ex.client);
      const code = err instanceof DialError ? err.code : "connect-failed";
      const status = code === "connect-timeout" ? 504 : 502;
      refuseTunnel(socket, ex, { decision: "error", code, reason: (err as Error).message, status });
      return;
    }
    // Read now: a closed socket no longer knows its peer.
    ex.addr = upstream.remoteAddress ?? "";
    if (socket.destroyed) {
      upstream.destroy();
      this.release(ex.client);
      const reason = "client left before the tunnel opened";
      ex.refuse({ decision: "error", code: "client-gone", reason, status: 0 });
      return;
    }
    metrics?.setupTook("tunnel", ex.elapsedSeconds());
    socket.write(ESTABLISHED);
    ex.decide({ decision: verdict.action, code: verdict.code, reason: verdict.reason, status: 200 });
    const first = await this.screenHello(ex, socket, upstream, target, head, policy);
    if (!first) {
      this.release(ex.client);
      ex.finish();
      return;
    }
    // Audited now as well as at close: a crash or SIGKILL must not leave an open tunnel untraced.
    ex.open();
    if (first.length > 0) upstream.write(first);
    this.splice(socket, upstream, () => {
      this.release(ex.client);
      ex.up = upstream.bytesWritten;
      ex.down = upstream.bytesRead;
      ex.finish();
    });
  }

  // On a TLS port, hold the tunnel until its ClientHello names the vetted host (sni.ts). Returns
  // the bytes to send upstream first, or undefined when the tunnel was refused and closed; the
  // exchange learns the SNI seen and the SNI verdict either way.
  private async screenHello(
    ex: Exchange,
    socket: Socket,
    upstream: Socket,
    target: Target,
    head: Buffer,
    policy: Policy,
  ): Promise<Buffer | undefined> {
    if (policy.plainConnectPorts.has(target.port)) return head;
    // Tracked while waiting, so a drain cuts a tunnel that never sends its hello.
    this.open.set(socket, upstream);
    // The upstream is connected but not yet spliced: an error or close from it now must end the
    // tunnel here (an unhandled error would take the whole gateway down).
    let upstreamClosed = false;
    const onUpstreamClosed = () => {
      upstreamClosed = true;
      socket.destroy();
    };
    upstream.on("error", noop);
    upstream.once("close", onUpstreamClosed);
    const read = await readHello(socket, head, this.deps.limits.headersTimeoutMs);
    upstream.off("close", onUpstreamClosed);
    this.open.delete(socket);
    if (read.kind === "gone" || upstreamClosed) {
      upstream.destroy();
      socket.destroy();
      ex.decide({
        decision: "error",
        status: 200,
        ...(upstreamClosed
          ? { code: "upstream-closed", reason: "upstream closed before the client's ClientHello" }
          : { code: "client-gone", reason: "client left before its ClientHello" }),
      });
      return undefined;
    }
    if (read.hello.kind === "hello" && read.hello.sni !== undefined) ex.sni = shownSni(read.hello.sni);
    const sv = sniVerdict(target, read.hello, policy);
    if (sv.action === "pass") {
      if (sv.note) ex.note(sv.note);
      return read.bytes;
    }
    this.deps.metrics?.decision(sv.action, sv.code);
    ex.decide({ decision: sv.action, code: sv.code, reason: sv.reason, status: 200 });
    if (sv.action === "report") return read.bytes;
    upstream.destroy();
    if (read.hello.kind === "hello") socket.end(ACCESS_DENIED_ALERT);
    else socket.end();
    setTimeout(() => socket.destroy(), 2000).unref();
    return undefined;
  }

  // Bytes flow both ways through pipe(); an end on one side half-closes the other; an error,
  // or no bytes either way for idleTimeoutMs, closes both. `done` runs once, after both close.
  private splice(client: Socket, upstream: Socket, done: () => void): void {
    const { limits, metrics } = this.deps;
    this.open.set(client, upstream);
    metrics?.activeTunnels.inc();
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    let open = 2;
    const closed = () => {
      if (--open > 0) return;
      this.open.delete(client);
      metrics?.activeTunnels.dec();
      done();
    };
    upstream.on("error", kill);
    client.on("error", kill);
    // A side that closes without an error takes the other with it, once its writes flush.
    upstream.on("close", () => {
      client.destroySoon();
      closed();
    });
    client.on("close", () => {
      upstream.destroySoon();
      closed();
    });
    client.setTimeout(limits.idleTimeoutMs, kill);
    upstream.setTimeout(limits.idleTimeoutMs, kill);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
