import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { configReferenceMarkdown, REFERENCE_END, REFERENCE_START } from "../../src/spec/reference.js";

test("README's configuration reference matches the schema (run `npm run docs` to regenerate)", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const inside = readme.slice(
    readme.indexOf(REFERENCE_START) + REFERENCE_START.length,
    readme.indexOf(REFERENCE_END),
  );
  assert.equal(inside.trim(), configReferenceMarkdown().trim());
});

test("every top-level section of moat.yaml is in the reference", () => {
  const md = configReferenceMarkdown();
  for (const key of ["name", "target", "agent", "access", "messengers", "llm", "egress", "hardening"]) {
    assert.match(md, new RegExp(`^\\| \`${key}\``, "m"), key);
  }
});
