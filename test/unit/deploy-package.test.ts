// Where deploy builds and keeps the Moat package on the operator's machine: the operator's own
// cache, never the lab's root-owned one (test/integration/deploy-package-unprivileged.test.ts
// runs the packaging itself as an unprivileged user).
import assert from "node:assert/strict";
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { operatorCache } from "../../src/deploy/package.js";
import { LAB_CACHE } from "../../src/lab/rootfs.js";

describe("deploy's package cache", () => {
  it("is XDG's cache, ~/.cache/moat without XDG_CACHE_HOME, MOAT_CACHE_DIR when set", () => {
    assert.equal(operatorCache({}), join(homedir(), ".cache/moat"));
    assert.equal(operatorCache({ XDG_CACHE_HOME: "/home/op/.xdg" }), "/home/op/.xdg/moat");
    assert.equal(operatorCache({ XDG_CACHE_HOME: "/x", MOAT_CACHE_DIR: "/y/moat" }), "/y/moat");
  });

  it("is not the lab's cache", () => {
    assert.notEqual(operatorCache({}), LAB_CACHE);
  });
});
