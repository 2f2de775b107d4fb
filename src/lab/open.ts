// `moat lab open`: the agent's own web UI (OpenClaw's Control UI on its published port, which
// Docker binds to the VM's 127.0.0.1 only) made reachable from this machine on 127.0.0.1, as
// `tailscale serve` makes it reachable from the tailnet on a real VM.
//
// Two halves joined by a Unix socket, so no network path is made between this machine's
// namespace and the lab's: no interface, address or route is added anywhere.
//  - here, in this machine's namespace: a TCP listener on 127.0.0.1 only (this process);
//  - inside the VM's namespace: a relay (`moat lab open-relay`, entered with nsenter --net) that
//    listens on nothing but a Unix socket in the lab's root-only state directory, and for each
//    connection dials exactly 127.0.0.1:<agent port> there.
// A pathname Unix socket is reached through the file system, not a network namespace, and the
// VM (whose root is its own rootfs) cannot see the state directory; the relay dials one fixed
// loopback port, so it carries nothing but connections this machine opens to the agent's UI.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { packageRoot } from "../host/runtime.js";
import { GATEWAY_TOKEN_ENV } from "../render/agent-env.js";
import { AGENT_COMPOSE_ENV_FILE } from "../render/compose.js";
import type { MoatSpec } from "../spec/schema.js";
import { LabError, type LabState, readState, stateDir } from "./lab.js";
import { processAlive } from "./vm.js";

const OPEN_HOST = "127.0.0.1";
const RELAY_READY = "ready";

export interface OpenPlan {
  vmNetns: string;
  agentPort: number;
  // 0: any free port (the one bound is printed).
  hostPort: number;
  socket: string;
  // Where the agent's API token lives, in the VM and seen from this machine; absent when the
  // agent (a custom profile) has none that Moat knows of.
  token?: { onVm: string; here: string; variable: string };
}

// --port as typed: a whole number 0–65535 (0: any free port).
export function parsePort(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535)
    throw new LabError(`--port ${text}: expected a port number 0-65535 (0 picks a free one)`);
  return port;
}

export function openPlan(spec: MoatSpec, state: LabState, hostPort: number, pid = process.pid): OpenPlan {
  return {
    vmNetns: state.namespaces.vm,
    agentPort: spec.agent.port,
    hostPort,
    socket: join(stateDir(state.name), `open-${pid}.sock`),
    ...(spec.agent.profile === "openclaw" && {
      token: {
        onVm: AGENT_COMPOSE_ENV_FILE,
        here: join(state.rootfs, AGENT_COMPOSE_ENV_FILE),
        variable: GATEWAY_TOKEN_ENV,
      },
    }),
  };
}

// How to read the token without entering the VM (its rootfs is a directory on this machine).
export const readTokenCommand = (token: NonNullable<OpenPlan["token"]>) =>
  `sudo sed -n 's/^${token.variable}=//p' ${token.here}`;

const pipeBoth = (a: Socket, b: Socket) => {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end).on("close", end);
  b.on("error", end).on("close", end);
};

// The VM half, run inside the VM's network namespace. Exits when its parent goes (stdin closes),
// and only then: a Ctrl-C reaches the whole terminal's process group, and the parent must see
// it first to close in order.
export function runOpenRelay(socket: string, port: number): Promise<void> {
  process.on("SIGINT", () => {});
  return new Promise((resolve, reject) => {
    rmSync(socket, { force: true });
    const server = createServer((client) => pipeBoth(client, createConnection({ host: OPEN_HOST, port })));
    server.on("error", reject);
    server.listen(socket, () => process.stdout.write(`${RELAY_READY}\n`));
    process.stdin.resume();
    process.stdin.on("close", () => server.close(() => resolve()));
    process.stdin.on("end", () => server.close(() => resolve()));
  });
}

export interface OpenForward {
  url: string;
  port: number;
  relayPid: number;
  // Resolves when the relay ends on its own (the lab went down under it).
  relayGone: Promise<number | null>;
  close(): Promise<void>;
}

function startRelay(plan: OpenPlan): Promise<ChildProcess> {
  const bin = join(packageRoot(), "bin/moat.js");
  const child = spawn(
    "nsenter",
    [
      `--net=/run/netns/${plan.vmNetns}`,
      "--",
      process.execPath,
      bin,
      "lab",
      "open-relay",
      plan.socket,
      String(plan.agentPort),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill();
      reject(new LabError(`the relay inside the VM's namespace ${plan.vmNetns} did not start in 20 s`));
    }, 20_000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(RELAY_READY)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new LabError(`the relay inside the VM's namespace ${plan.vmNetns} exited ${code}`));
    });
  });
}

const listen = (server: Server, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new LabError(
          err.code === "EADDRINUSE"
            ? `${OPEN_HOST}:${port} is taken on this machine; pass --port N (0 picks a free one)`
            : `listening on ${OPEN_HOST}:${port}: ${err.message}`,
        ),
      ),
    );
    server.listen({ host: OPEN_HOST, port }, () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });

export async function labOpen(spec: MoatSpec, hostPort: number): Promise<OpenForward & { plan: OpenPlan }> {
  if (process.getuid?.() !== 0) throw new LabError("moat lab runs as root");
  const state = readState(spec.name);
  if (!state || !processAlive(state.nspawnPid))
    throw new LabError(`lab ${spec.name} is not up; \`moat lab up\` first`);
  const plan = openPlan(spec, state, hostPort);
  return { plan, ...(await openForward(plan)) };
}

// The two halves for a plan: the relay in plan.vmNetns, then the listener here.
export async function openForward(plan: OpenPlan): Promise<OpenForward> {
  const relay = await startRelay(plan);
  // Made at once, while the relay is known to run: a killed relay has no exitCode, only a signal.
  const relayGone = new Promise<number | null>((resolve) => relay.once("exit", resolve));
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client.on("close", () => open.delete(client)));
    pipeBoth(client, createConnection(plan.socket));
  });
  let port: number;
  try {
    port = await listen(server, plan.hostPort);
  } catch (err) {
    relay.stdin?.end();
    throw err;
  }
  const close = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of open) c.destroy();
    await closed;
    relay.stdin?.end();
    await relayGone;
    if (existsSync(plan.socket)) rmSync(plan.socket, { force: true });
  };
  return { url: `http://${OPEN_HOST}:${port}/`, port, relayPid: relay.pid ?? 0, relayGone, close };
}
