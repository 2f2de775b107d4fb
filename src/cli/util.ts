import { styleText } from "node:util";
import type { Command } from "commander";
import { formatErrors, SpecInvalid } from "../spec/load.js";

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export const exitCodesHelp = `
Exit codes:
  0  success
  1  the command ran and found a problem (invalid spec, failed check)
  2  usage error (unknown option, missing argument)
`;

// NO_COLOR (https://no-color.org) and non-terminals get plain text.
const colour = !process.env.NO_COLOR && process.stdout.isTTY;
type Style = Parameters<typeof styleText>[0];
export const paint = (style: Style, text: string) => (colour ? styleText(style, text) : text);

export const configOption = ["-c, --config <file>", "path to moat.yaml", "moat.yaml"] as const;

export class CliFailure extends Error {}

// The program must be built with .exitOverride() before subcommands are added, so they inherit it.
export async function runMain(program: Command): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code?.startsWith("commander.")) {
      process.exitCode =
        e.code === "commander.helpDisplayed" || e.code === "commander.version" ? 0 : EXIT.usage;
      return;
    }
    if (err instanceof SpecInvalid) {
      process.stderr.write(`${paint("red", `${err.file} is not valid:`)}\n${formatErrors(err.errors)}\n`);
    } else if (err instanceof CliFailure) {
      process.stderr.write(`${paint("red", "moat:")} ${err.message}\n`);
    } else {
      process.stderr.write(
        `${paint("red", "moat: unexpected error:")} ${(err as Error).stack ?? String(err)}\n`,
      );
    }
    process.exitCode = EXIT.failed;
  }
}
