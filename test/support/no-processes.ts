// Loaded into each unit test file's process (package.json's test:unit): the unit tier is the pure
// core and runs on any machine with Node, so a test that starts a process (a system tool, a shell)
// fails there, naming the command; a case that drives a real tool belongs in test/tools.
import { createRequire, syncBuiltinESMExports } from "node:module";

const STARTERS = ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"] as const;

// Only in a test file's own process (node:test marks it); the runner above it starts those.
if (process.env.NODE_TEST_CONTEXT) {
  const childProcess = createRequire(import.meta.url)("node:child_process") as Record<string, unknown>;
  for (const name of STARTERS) {
    childProcess[name] = (command: unknown) => {
      throw new Error(
        `the unit tier starts no process (${name} ${String(command)}): a case that drives a real tool belongs in test/tools`,
      );
    };
  }
  syncBuiltinESMExports();
}
