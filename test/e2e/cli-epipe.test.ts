// A reader that goes away is not an error: `moat … | head -1` exits 0 and prints nothing on
// stderr, for every kind of command that writes to stdout.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";

const BIN = join(import.meta.dirname, "../../bin/moat.js");

interface Ended {
  code: number | null;
  signal: string | null;
  stderr: string;
  firstLine: string;
}

// Spawns the CLI with stdout to a pipe; closes the pipe at once (`early`), or after the first line.
function moatIntoClosedPipe(args: string[], opts: { cwd?: string; early?: boolean } = {}): Promise<Ended> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let firstLine = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  if (opts.early) child.stdout.destroy();
  else {
    let seen = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      seen += d;
      const nl = seen.indexOf("\n");
      if (nl >= 0 && !firstLine) {
        firstLine = seen.slice(0, nl);
        child.stdout.destroy();
      }
    });
  }
  return new Promise((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stderr, firstLine })),
  );
}

describe("a closed stdout pipe", () => {
  const commands = [
    ["--help"],
    ["gateway", "--help"],
    ["schema"],
    ["--version"],
    ["telegram", "whoami", "--help"],
  ];
  for (const args of commands) {
    test(`moat ${args.join(" ")} with the pipe closed before it writes: exit 0, stderr empty`, async () => {
      const r = await moatIntoClosedPipe(args, { early: true });
      assert.equal(r.stderr, "");
      assert.deepEqual([r.code, r.signal], [0, null]);
    });
  }

  test("moat gateway denials | head -1 on output larger than a pipe holds: exit 0, stderr empty", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-epipe-"));
    const time = new Date().toISOString();
    const lines = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify({
        time,
        decision: "deny",
        host: `host-${i}.example`,
        port: 443,
        code: "not-allowlisted",
        reason: `host-${i}.example is not in egress.allow`,
      }),
    );
    writeFileSync(join(dir, "audit.log"), `${lines.join("\n")}\n`);
    const r = await moatIntoClosedPipe([
      "gateway",
      "denials",
      "--json",
      "--audit-log",
      join(dir, "audit.log"),
    ]);
    assert.equal(r.firstLine, "{");
    assert.equal(r.stderr, "");
    assert.deepEqual([r.code, r.signal], [0, null]);
  });
});
