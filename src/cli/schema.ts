import type { Command } from "commander";
import { moatJsonSchema } from "../spec/json-schema.js";

export function registerSchema(program: Command): void {
  program
    .command("schema")
    .description("print the JSON Schema of moat.yaml, for editor completion")
    .action(() => {
      process.stdout.write(`${JSON.stringify(moatJsonSchema(), null, 2)}\n`);
    });
}
