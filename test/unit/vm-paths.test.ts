// One home for where things live on the VM: src/render/paths.ts. A path of that table spelled
// out anywhere else in src/ is a second copy that can drift from it, and a module reaching into
// host apply's step files for a path or constant couples itself to that step's internals.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import * as paths from "../../src/render/paths.js";

const SRC = new URL("../../src", import.meta.url).pathname;
const TABLE = join(SRC, "render/paths.ts");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

// Every path and file-name suffix in the table (names like the interface are not paths).
const tablePaths = Object.values(paths).filter(
  (v): v is string => typeof v === "string" && (v.startsWith("/") || v.startsWith(".")),
);

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
// "/etc/moat" is in "/etc/moat/moat.yaml" but not in "/etc/moat-lab" or "/etc/moat-secrets".
const literal = (p: string) => new RegExp(`${escapeRegExp(p)}(?![\\w-])`);

const isComment = (line: string) => /^\s*(\/\/|\*|\/\*)/.test(line);

// file:line: text for every code line (comments may name a path to explain it) holding one.
function copiesOfTablePaths(files: { file: string; text: string }[]): string[] {
  return files.flatMap(({ file, text }) =>
    text.split("\n").flatMap((line, i) => {
      if (isComment(line)) return [];
      const hit = tablePaths.find((p) => literal(p).test(line));
      return hit ? [`${file}:${i + 1}: ${hit} in ${line.trim()}`] : [];
    }),
  );
}

const srcFiles = () =>
  sourceFiles(SRC)
    .filter((f) => f !== TABLE)
    .map((f) => ({ file: relative(SRC, f), text: readFileSync(f, "utf8") }));

describe("VM paths have one home", () => {
  it("the table holds the paths other modules import", () => {
    for (const p of ["/etc/moat", "/etc/moat-secrets", "/var/lib/moat", "/var/log/moat", "/opt/moat"])
      assert.ok(tablePaths.includes(p), `${p} is not in src/render/paths.ts`);
    assert.equal(paths.SPEC_ON_VM, "/etc/moat/moat.yaml");
    assert.equal(paths.GATEWAY_ENV_FILE, "/etc/moat-secrets/gateway.env");
    assert.equal(paths.RUNTIME_NODE, "/opt/moat/node/bin/node");
  });

  it("no file in src/ spells out a path of the table", () => {
    assert.deepEqual(copiesOfTablePaths(srcFiles()), []);
  });

  it("a copy is caught (negative control), but not a longer name or a comment", () => {
    const found = copiesOfTablePaths([
      { file: "x.ts", text: 'const spec = "/etc/moat/moat.yaml";' },
      { file: "y.ts", text: "const env = `/etc/moat-secrets/gateway.env`;" },
      {
        file: "z.ts",
        text: 'const tar = image + ".changes.json";\nconst lab = "/etc/moat-lab/ca.pem";\n// see /etc/moat',
      },
    ]);
    assert.deepEqual(
      found.map((f) => f.split(":").slice(0, 2).join(":")),
      ["x.ts:1", "y.ts:1", "z.ts:1"],
    );
  });

  it("only src/host reaches into host apply's step files", () => {
    const reaching = srcFiles().filter(
      ({ file, text }) => !file.startsWith("host/") && /from "[./]+\/host\/steps\//.test(text),
    );
    assert.deepEqual(
      reaching.map((f) => f.file),
      [],
    );
  });
});
