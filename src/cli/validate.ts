import type { Command } from "commander";
import { loadSpecFile } from "../spec/load.js";
import { specWarnings } from "../spec/warnings.js";
import { configOption, paint } from "./util.js";

export function registerValidate(program: Command): void {
  program
    .command("validate")
    .description("check moat.yaml; exit 0 if valid (warnings on stderr), 1 with every error")
    .option(...configOption)
    .action((opts: { config: string }) => {
      const spec = loadSpecFile(opts.config);
      for (const w of specWarnings(spec))
        process.stderr.write(`${paint("yellow", "!")} ${w.path}: ${w.message}\n`);
      process.stdout.write(
        `${paint("green", "✓")} ${opts.config} is valid (${spec.name}, target ${spec.target.kind})\n`,
      );
    });
}
