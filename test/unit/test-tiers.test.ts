// Every test file runs in exactly one tier, and `npm test` runs every tier: a file put where no
// tier's glob looks (or where two do) would pass by never running. A file that boots a VM is in
// test/vm, and one that needs root for namespaces or VMs skips without it (test/support/root.ts).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";

const REPO = join(import.meta.dirname, "../..");
const TIERS = ["test:unit", "test:tools", "test:integration", "test:vm"];

// The test-file globs a script names: `test/<dir>/*.test.ts` words; `*` stays within one directory.
const globsOf = (script: string) => script.split(/\s+/).filter((w) => /^test\/.*\.test\.ts$/.test(w));
const globMatches = (glob: string, file: string) =>
  new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[^/]*")}$`).test(file);

// What is wrong with where the test files are, given the package's scripts.
function tierProblems(files: string[], scripts: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const tier of TIERS) {
    if (!scripts[tier]) problems.push(`no ${tier} script`);
    else if (!new RegExp(`npm run ${tier}(?![\\w:-])`).test(scripts.test ?? ""))
      problems.push(`npm test does not run ${tier}`);
  }
  for (const file of files) {
    const tiers = TIERS.filter((t) => globsOf(scripts[t] ?? "").some((g) => globMatches(g, file)));
    if (tiers.length !== 1) problems.push(`${file} is in ${tiers.length ? tiers.join(" and ") : "no tier"}`);
  }
  return problems;
}

// What a test file's imports say it does: boot an nspawn VM, or make network namespaces.
// (Importing src/lab/lab.js alone does not: its error class and state readers are plain code.)
const BOOTS_VM_SUPPORT = /from "\.\.\/support\/(host-lab|verify-lab|vm|lab-cli)\.js"/;
const RUNS_LAB_UP = /"lab",\s*"up"/;
const bootsVm = (source: string) => BOOTS_VM_SUPPORT.test(source) || RUNS_LAB_UP.test(source);
const MAKES_NAMESPACES =
  /from "\.\.\/(support\/(netns|gateway-lab|agent-lab|tcp-probe|udp-probe|fake-registry)|\.\.\/src\/lab\/netns)\.js"/;

function rootProblems(file: string, source: string): string[] {
  const vm = bootsVm(source);
  const problems: string[] = [];
  if (vm && !file.startsWith("test/vm/")) problems.push(`${file} boots a VM but is not in test/vm`);
  if ((vm || MAKES_NAMESPACES.test(source)) && !source.includes("needsRoot("))
    problems.push(`${file} needs root but does not skip without it (needsRoot)`);
  return problems;
}

const testFilesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return testFilesUnder(path);
    return name.endsWith(".test.ts") ? [relative(REPO, path)] : [];
  });

const scripts = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).scripts as Record<
  string,
  string
>;

describe("test tiers", () => {
  it("every test file under test/ is in exactly one tier, and npm test runs every tier", () => {
    const files = testFilesUnder(join(REPO, "test"));
    assert.ok(files.includes("test/unit/test-tiers.test.ts"), files.join(" "));
    assert.deepEqual(tierProblems(files, scripts), []);
  });

  it("negative controls: a file in no tier's directory, a file two tiers run, a tier npm test skips", () => {
    assert.deepEqual(
      tierProblems(["test/unit/a.test.ts", "test/gateway/b.test.ts", "test/c.test.ts"], scripts),
      ["test/gateway/b.test.ts is in no tier", "test/c.test.ts is in no tier"],
    );
    const twice = { ...scripts, "test:tools": `${scripts["test:tools"]} test/unit/*.test.ts` };
    assert.deepEqual(tierProblems(["test/unit/a.test.ts"], twice), [
      "test/unit/a.test.ts is in test:unit and test:tools",
    ]);
    const skipped = { ...scripts, test: (scripts.test ?? "").replace("npm run test:vm", "true") };
    assert.deepEqual(tierProblems([], skipped), ["npm test does not run test:vm"]);
    // `*` does not cross a directory: a file one level down is in no tier.
    assert.deepEqual(tierProblems(["test/unit/golden/d.test.ts"], scripts), [
      "test/unit/golden/d.test.ts is in no tier",
    ]);
  });

  it("a file that boots a VM is in test/vm; one that needs root skips without it", () => {
    const files = testFilesUnder(join(REPO, "test"));
    const problems = files.flatMap((f) => rootProblems(f, readFileSync(join(REPO, f), "utf8")));
    assert.deepEqual(problems, []);
  });

  it("negative controls: a VM test outside test/vm, and root-needing tests without the skip", () => {
    // Built from parts, so this file's own text does not look like a test that boots a VM.
    const importOf = (module: string) => `import { X } from "../${module}.js";\n`;
    const vm = `${importOf("support/host-lab")}describe("x", { skip: needsRoot("vm") }, () => {});`;
    assert.deepEqual(rootProblems("test/integration/a.test.ts", vm), [
      "test/integration/a.test.ts boots a VM but is not in test/vm",
    ]);
    assert.deepEqual(rootProblems("test/vm/a.test.ts", vm.replace('needsRoot("vm")', "false")), [
      "test/vm/a.test.ts needs root but does not skip without it (needsRoot)",
    ]);
    assert.deepEqual(rootProblems("test/integration/b.test.ts", importOf("support/netns")), [
      "test/integration/b.test.ts needs root but does not skip without it (needsRoot)",
    ]);
    assert.deepEqual(rootProblems("test/unit/c.test.ts", importOf("helpers")), []);
  });

  // test:unit loads test/support/no-processes.ts; without it a unit case could drive a system tool
  // and pass only on machines that have it. (A file run alone with tsx --test has no guard.)
  it("a unit test cannot start a process under npm run test:unit", {
    skip: process.env.npm_lifecycle_event === "test:unit" ? false : "only npm run test:unit loads the guard",
  }, () => {
    assert.throws(() => spawnSync("true"), /the unit tier starts no process \(spawnSync true\)/);
    assert.throws(() => execFileSync("nft", ["-v"]), /belongs in test\/tools/);
  });

  it("test:unit loads the guard", () => {
    assert.match(scripts["test:unit"] ?? "", /--import \.\/test\/support\/no-processes\.ts /);
  });
});
