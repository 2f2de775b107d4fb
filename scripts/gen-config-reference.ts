// Rewrites the configuration reference inside README.md from the schema.
import { readFileSync, writeFileSync } from "node:fs";
import { configReferenceMarkdown, REFERENCE_END, REFERENCE_START } from "../src/spec/reference.js";

const readme = readFileSync("README.md", "utf8");
const start = readme.indexOf(REFERENCE_START);
const end = readme.indexOf(REFERENCE_END);
if (start < 0 || end < start) throw new Error("README.md has no config-reference markers");
const next = `${readme.slice(0, start + REFERENCE_START.length)}\n\n${configReferenceMarkdown()}\n\n${readme.slice(end)}`;
writeFileSync("README.md", next);
process.stdout.write(
  next === readme ? "README.md reference is up to date\n" : "README.md reference regenerated\n",
);
