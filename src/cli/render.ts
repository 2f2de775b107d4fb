import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Command } from "commander";
import { renderBundle } from "../render/index.js";
import { loadSpecFile } from "../spec/load.js";
import { configOption, paint } from "./util.js";

export function registerRender(program: Command): void {
  program
    .command("render")
    .description("write the bundle (firewall, compose, seccomp, units, configs) rendered from moat.yaml")
    .option(...configOption)
    .option("-o, --out <dir>", "bundle directory", "out/bundle")
    .option("--json", "print a manifest of the artifacts as JSON")
    .action((opts: { config: string; out: string; json?: boolean }) => {
      const spec = loadSpecFile(opts.config);
      const artifacts = renderBundle(spec);
      for (const a of artifacts) {
        const file = join(opts.out, a.path);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, a.content, { mode: a.mode ?? 0o644 });
      }
      if (opts.json) {
        const manifest = {
          artifacts: artifacts.map((a) => ({ kind: a.kind, path: join(opts.out, a.path) })),
        };
        process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
        return;
      }
      for (const a of artifacts)
        process.stdout.write(`  ${paint("dim", a.kind.padEnd(16))} ${join(opts.out, a.path)}\n`);
      process.stdout.write(`${paint("green", "✓")} ${artifacts.length} artifacts in ${opts.out}\n`);
    });
}
