#!/usr/bin/env node
// A source checkout runs the TypeScript through tsx, so a stale dist/ can never shadow it;
// the published package ships dist/ only (see "files" in package.json) and runs that.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const source = new URL("../src/cli/main.ts", import.meta.url);
if (existsSync(fileURLToPath(source))) {
  await import("tsx/esm");
  await import(source.href);
} else {
  await import(new URL("../dist/cli/main.js", import.meta.url).href);
}
