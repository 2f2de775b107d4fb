// `moat lab …` as a user runs it, against the moat.yaml in `dir`.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const REPO = new URL("../..", import.meta.url).pathname;

export const labCli =
  (dir: string) =>
  (...args: string[]) =>
    spawnSync(process.execPath, [join(REPO, "bin/moat.js"), ...args, "-c", join(dir, "moat.yaml")], {
      cwd: dir,
      encoding: "utf8",
      timeout: 900_000,
      env: { ...process.env, NO_COLOR: "1" },
    });
