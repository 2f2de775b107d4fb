// A socket the agent's uids own answers no connection they did not open (issue 13 item 9): a
// listener started here as the agent's uid and as a uid of its subuid range is connected to by
// root and must send nothing back, because the firewall rejects their packets in the reply
// direction. The one exception, the published port on loopback, is judged by container.ports;
// these listeners take any other port, so the probe is the same from loopback as from outside.
import { spawn } from "node:child_process";
import { connect } from "node:net";
import type { MoatSpec } from "../../spec/schema.js";
import { nodeAsUid } from "../probes.js";
import { type Check, fail, pass, type Verdict } from "../types.js";
import { subuidProbe } from "./network.js";

// Listens on an ephemeral loopback port, prints it, greets every connection, and exits on its
// own after a while so no listener outlives a verify run.
const LISTENER = `
const server = require("node:net").createServer((s) => { s.on("error", () => {}); s.end("moat-verify-answer"); });
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
setTimeout(() => process.exit(0), Number(process.argv[1]));
`;

export interface AnswerOutcome {
  uid: number;
  port: number;
  // "answered" when any byte came back; otherwise how the connection failed, or "timeout".
  outcome: string;
}

export function judgeAnswers(outcomes: readonly AnswerOutcome[]): Verdict {
  const answered = outcomes.filter((o) => o.outcome === "answered");
  if (answered.length)
    return fail(
      `answered a connection it did not open: ${answered.map((o) => `uid ${o.uid} on 127.0.0.1:${o.port}`).join(", ")}`,
      "run `moat host apply --only firewall` and check `nft list chain inet moat agent_egress`",
    );
  return pass(`no answer: ${outcomes.map((o) => `uid ${o.uid} (${o.outcome})`).join(", ")}`);
}

interface UidListener {
  port: number;
  stop(): void;
}

function listenAs(uid: number, lifetimeMs: number): Promise<UidListener> {
  const [cmd, ...args] = nodeAsUid(uid);
  const child = spawn(cmd as string, [...args, "-e", LISTENER, String(lifetimeMs)], {
    cwd: "/",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout.once("data", (d: Buffer) =>
      resolve({ port: Number(d.toString().trim()), stop: () => child.kill("SIGKILL") }),
    );
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`listener as uid ${uid} exited ${code}: ${err.trim()}`)));
  });
}

function answerFrom(port: number, limitMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const done = (outcome: string) => {
      s.destroy();
      resolve(outcome);
    };
    s.setTimeout(limitMs, () => done("timeout"));
    s.on("data", () => done("answered"));
    s.on("error", (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on("end", () => done("closed"));
  });
}

async function probeListener(spec: MoatSpec, uid: number, limitMs: number): Promise<AnswerOutcome> {
  let listener = await listenAs(uid, limitMs + 2000);
  // The published port is the firewall's one exception; an ephemeral port that lands on it
  // would test the exception, not the rule.
  if (listener.port === spec.agent.port) {
    const taken = listener;
    listener = await listenAs(uid, limitMs + 2000);
    taken.stop();
  }
  try {
    return { uid, port: listener.port, outcome: await answerFrom(listener.port, limitMs) };
  } finally {
    listener.stop();
  }
}

export const agentListenersSilent: Check = {
  id: "net.agent-answers",
  title: "a listener of the agent's uid or subuids answers no connection they did not open",
  required: true,
  run: async (ctx) => {
    const uids = [ctx.spec.host.agentUid, subuidProbe(ctx.spec)];
    return judgeAnswers(await Promise.all(uids.map((uid) => probeListener(ctx.spec, uid, 1500))));
  },
};
