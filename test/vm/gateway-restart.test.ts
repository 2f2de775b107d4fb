// The gateway unit comes back after every SIGKILL, however many in a row, and is never locked
// out by a start-rate limit (issue 13, item 3). Measured on a booted Debian 13 after host apply:
// the time from SIGKILL to /healthz answering again. The negative control puts systemd's
// default start limit back in a drop-in and shows the same kill loop leaves the gateway down.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { HostLab, labSpec, VM_NODE } from "../support/host-lab.js";
import { needsRoot } from "../support/root.js";

const HEALTHY = `${VM_NODE} -e "require('http').get('http://198.18.0.1:3128/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"`;

// Kill the gateway's main process, then wait (up to `waitMs`) for a new one to answer /healthz.
// Prints the milliseconds it took, or "down".
const killOnce = (waitMs: number) => `
pid=$(systemctl show -p MainPID --value moat-gateway.service)
t0=$(date +%s%N)
kill -9 "$pid"
end=$(( t0 + ${waitMs} * 1000000 ))
while :; do
  now=$(date +%s%N)
  new=$(systemctl show -p MainPID --value moat-gateway.service)
  if [ "$new" != 0 ] && [ "$new" != "$pid" ] && ${HEALTHY}; then echo $(( ($(date +%s%N) - t0) / 1000000 )); break; fi
  if [ "$now" -gt "$end" ]; then echo down; break; fi
  sleep 0.05
done`;

describe("gateway restart after SIGKILL on a booted Debian 13", {
  skip: needsRoot("boots an nspawn VM in a network namespace"),
  concurrency: false,
  timeout: 600_000,
}, () => {
  const lab = new HostLab("restart");

  before(async () => {
    await lab.up(labSpec("restart"));
    const r = lab.apply();
    assert.equal(r.code, 0, `host apply failed: ${r.stderr}`);
  });
  after(async () => {
    await lab.down();
  });

  const killLoop = (times: number, waitMs: number) => {
    const out: string[] = [];
    for (let i = 0; i < times; i++) {
      const r = lab.vm.exec(["sh", "-c", killOnce(waitMs)], { timeoutMs: waitMs + 10_000 });
      out.push(r.stdout.trim() || `error ${r.stderr.trim()}`);
      if (out.at(-1) === "down") break;
    }
    return out;
  };

  it("ten SIGKILLs in a row: serving again after each, never start-limited", () => {
    const took = killLoop(10, 15_000);
    process.stderr.write(`SIGKILL → /healthz again (ms): ${took.join(", ")}\n`);
    assert.equal(took.length, 10);
    for (const t of took) assert.match(t, /^\d+$/, `not back: ${took.join(", ")}`);
    const ms = took.map(Number).sort((a, b) => a - b);
    assert.ok((ms.at(-1) as number) < 10_000, `slowest restart ${ms.at(-1)} ms`);
    assert.equal(lab.vm.must(["systemctl", "is-active", "moat-gateway.service"]).trim(), "active");
    const restarts = Number(
      lab.vm.must(["systemctl", "show", "-p", "NRestarts", "--value", "moat-gateway.service"]),
    );
    assert.ok(restarts >= 10, `NRestarts ${restarts}`);
  });

  it("negative control: systemd's default start limit would leave the gateway down", () => {
    lab.vm.must(["mkdir", "-p", "/run/systemd/system/moat-gateway.service.d"]);
    lab.vm.must([
      "sh",
      "-c",
      "printf '[Unit]\\nStartLimitIntervalSec=10s\\nStartLimitBurst=5\\n' > /run/systemd/system/moat-gateway.service.d/limit.conf",
    ]);
    lab.vm.must(["systemctl", "daemon-reload"]);
    lab.vm.must(["systemctl", "reset-failed", "moat-gateway.service"]);
    const took = killLoop(10, 8000);
    process.stderr.write(`with the default start limit (ms): ${took.join(", ")}\n`);
    assert.equal(took.at(-1), "down", `the gateway kept coming back: ${took.join(", ")}`);
    // Given up for good: failed, not waiting to restart ("activating"), and it stays that way.
    // (systemd keeps Result=signal from the last kill; the refusal is the state.)
    const state = () =>
      lab.vm
        .exec(["systemctl", "show", "-p", "ActiveState", "--value", "moat-gateway.service"])
        .stdout.trim();
    assert.equal(state(), "failed");
    lab.vm.must(["sleep", "3"]);
    assert.equal(state(), "failed");
    lab.vm.must(["rm", "/run/systemd/system/moat-gateway.service.d/limit.conf"]);
    lab.vm.must(["systemctl", "daemon-reload"]);
    lab.vm.must(["systemctl", "reset-failed", "moat-gateway.service"]);
    lab.vm.must(["systemctl", "start", "moat-gateway.service"]);
  });
});
