// The live facts a converged host-apply VM must show, shared by the tests that boot one per
// release: the agent's uids reach the gateway and nothing else (metadata refused despite the
// cloud's InstanceServices ACCEPT), other users still reach metadata, and the agent's container
// runs under its rootless Docker with its posture.
import assert from "node:assert/strict";
import { AS_AGENT, type HostLab, IMDS_V4, IMDS_V6, OTHER_PORT, OTHER_V4, OTHER_V6 } from "./host-lab.js";
import { GREETING, probeWith } from "./tcp-probe.js";

// labSpec's agent user, the first id of its subuid range, and a uid with no account.
export const AGENT_UID = 2000;
export const SUBUID = 1000005;
export const OTHER_USER_UID = 4242;
export const GATEWAY = { host: "198.18.0.1", port: 3128 };

// Connects as uid inside the VM's namespace, sends an HTTP request, and says "open" when any
// byte comes back (the gateway answers only a request); otherwise the error code or "timeout".
const HTTP_CLIENT = `
const s = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
const done = (r) => { process.stdout.write(r); process.exit(0); };
s.setTimeout(3000, () => done("timeout"));
s.on("connect", () => s.write("GET / HTTP/1.0\\r\\nHost: probe\\r\\n\\r\\n"));
s.on("data", () => done("open"));
s.on("error", (e) => done(e.code || e.message));
`;

export function hostProbes(lab: HostLab, container: string) {
  // A shell in the agent's container, through the agent user's rootless Docker.
  const inContainer = (script: string) =>
    lab.vm.exec([...AS_AGENT, "docker", "exec", container, "sh", "-c", script]).stdout;
  return {
    probe: (uid: number, host: string, port: number) => probeWith(HTTP_CLIENT, lab.vmNs, uid, host, port),
    inContainer,
    containerReaches: (host: string, port: number) =>
      inContainer(`printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port} 2>&1 | head -c 200`),
    tableLoaded: () => lab.vm.exec(["nft", "list", "table", "inet", "moat"]).code === 0,
    dropTable: () => lab.vm.must(["nft", "delete", "table", "inet", "moat"]),
  };
}
export type HostProbes = ReturnType<typeof hostProbes>;

// A fresh system's first `moat host apply`: ok, every step changing something; the timings logged.
export function assertFirstConverge(lab: HostLab): ReturnType<HostLab["apply"]>["report"] {
  const { code, report } = lab.apply();
  const summary = report.steps.map((s) => `${s.step}:${s.status}${s.error ? ` ${s.error}` : ""}`);
  assert.equal(code, 0, summary.join("\n"));
  assert.ok(report.ok);
  for (const s of report.steps) assert.equal(s.status, "changed", `${s.step} should have changed`);
  const packages = report.steps.find((s) => s.step === "packages")?.durationMs ?? 0;
  console.log(
    `# ${lab.release} first converge: ${report.durationMs} ms (apt install from local archives ${packages} ms; other steps ${report.durationMs - packages} ms)`,
  );
  return report;
}

export function assertNoOpRerun(lab: HostLab, withinMs: number): void {
  const { code, report } = lab.apply();
  assert.equal(code, 0);
  for (const s of report.steps) assert.equal(s.status, "unchanged", `${s.step}: ${s.actions.join("; ")}`);
  console.log(`# ${lab.release} no-op re-run: ${report.durationMs} ms`);
  assert.ok(report.durationMs <= withinMs, `no-op run took ${report.durationMs} ms`);
}

export function assertAgentUidsConfined({ probe }: HostProbes): void {
  for (const uid of [AGENT_UID, SUBUID]) {
    assert.equal(probe(uid, IMDS_V4, 80), "ECONNREFUSED", `uid ${uid} → ${IMDS_V4}`);
    assert.equal(probe(uid, IMDS_V6, 80), "ECONNREFUSED", `uid ${uid} → ${IMDS_V6}`);
    assert.equal(probe(uid, OTHER_V4, OTHER_PORT), "ECONNREFUSED", `uid ${uid} → other host`);
    assert.equal(probe(uid, OTHER_V6, OTHER_PORT), "ECONNREFUSED", `uid ${uid} → other host v6`);
    assert.equal(probe(uid, GATEWAY.host, GATEWAY.port), "open", `uid ${uid} → gateway`);
  }
  // The cloud still needs metadata: root and other users reach it.
  for (const uid of [0, OTHER_USER_UID]) {
    assert.equal(probe(uid, IMDS_V4, 80), "open", `uid ${uid} → ${IMDS_V4}`);
    assert.equal(probe(uid, IMDS_V6, 80), "open", `uid ${uid} → ${IMDS_V6}`);
  }
}

export function assertContainerConfined({ containerReaches }: HostProbes): void {
  assert.match(containerReaches(GATEWAY.host, GATEWAY.port), /^HTTP\/1\.[01] /);
  for (const [host, port] of [
    [IMDS_V4, 80],
    [OTHER_V4, OTHER_PORT],
  ] as const) {
    assert.doesNotMatch(containerReaches(host, port), new RegExp(GREETING), `container → ${host}`);
  }
}

export function assertAgentPosture(lab: HostLab, { inContainer }: HostProbes): void {
  assert.match(
    lab.vm.must([...AS_AGENT, "docker", "info", "--format", "{{json .SecurityOptions}}"]),
    /name=rootless/,
  );
  // The only container runtime runs as the agent: no root dockerd or containerd.
  const root = lab.vm.must(["ps", "-o", "args=", "-u", "root"]);
  assert.doesNotMatch(root, /^\S*(dockerd|containerd)(\s|$)/m, "a root container daemon runs");
  const ps = lab.vm.must(["ps", "-o", "user:20,args", "-C", "node"]);
  assert.match(ps, /moat-gateway\s+\/usr\/bin\/node \/opt\/moat\/bin\/moat\.js gateway/);
  assert.match(inContainer("grep CapEff /proc/self/status"), /CapEff:\s+0000000000000000/);
  assert.match(inContainer("grep NoNewPrivs /proc/self/status"), /NoNewPrivs:\s+1/);
  assert.match(inContainer("touch /x 2>&1 || echo read-only"), /read-only/i);
}
