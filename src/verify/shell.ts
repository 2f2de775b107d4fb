// The thin async shell under verify: commands run concurrently, so the whole run fits in seconds.
import { spawn } from "node:child_process";

export interface ShellResult {
  code: number;
  stdout: string;
  stderr: string;
}

const BASE_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };

export function sh(
  argv: string[],
  opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): Promise<ShellResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("empty command");
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: { ...BASE_ENV, ...opts.env },
      cwd: "/",
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      stderr += `\n(timed out after ${opts.timeoutMs} ms)`;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 8000);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${err.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // A command that exits (or fails to start) before reading its stdin must not crash verify.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}
