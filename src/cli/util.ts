import { styleText } from "node:util";
import type { Command } from "commander";
import { MoatError } from "../errors.js";
import { exitQuietlyOnClosedPipe, failureFor } from "./errors.js";

export { EXIT, exitCodesHelp } from "./errors.js";

// NO_COLOR (https://no-color.org) and non-terminals get plain text.
const colour = !process.env.NO_COLOR && process.stdout.isTTY;
type Style = Parameters<typeof styleText>[0];
export const paint = (style: Style, text: string) => (colour ? styleText(style, text) : text);

export const configOption = ["-c, --config <file>", "path to moat.yaml", "moat.yaml"] as const;

export class CliFailure extends MoatError {
  override readonly name = "CliFailure";
  readonly code = "MOAT_CLI";
}

// The program must be built with .exitOverride() before subcommands are added, so they inherit it.
export async function runMain(program: Command): Promise<void> {
  exitQuietlyOnClosedPipe(process.stdout);
  exitQuietlyOnClosedPipe(process.stderr);
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    const { exitCode, text } = failureFor(err, paint);
    if (text) process.stderr.write(text);
    process.exitCode = exitCode;
  }
}
