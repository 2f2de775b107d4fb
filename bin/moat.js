#!/usr/bin/env node
// Installed packages run the compiled CLI; a source checkout runs the TypeScript through tsx.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (existsSync(compiled)) {
  await import(compiled);
} else {
  await import("tsx/esm");
  await import(new URL("../src/cli/main.ts", import.meta.url).href);
}
