// Host apply's process seam and the lab image's library lister against real processes (tools
// tier: needs coreutils' wc and glibc's ldd; the image's pure cases are in
// test/unit/openclaw-image.test.ts).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { run } from "../../src/host/shell.js";
import { linkedLibraries } from "../../src/lab/openclaw-image.js";

describe("the lab OpenClaw image and host apply's import", () => {
  it("run streams a file to stdin", () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-stdin-"));
    try {
      const file = join(dir, "in");
      writeFileSync(file, Buffer.alloc(3 << 20, 7));
      const r = run(["wc", "-c"], { stdinFile: file });
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim(), String(3 << 20));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("linkedLibraries lists the dynamic loader and libc of a dynamic binary", () => {
    const libs = linkedLibraries("/bin/ls");
    assert.ok(
      libs.some((l) => /\/ld-linux[^/]*\.so/.test(l)),
      libs.join(" "),
    );
    assert.ok(
      libs.some((l) => /\/libc\.so\.6$/.test(l)),
      libs.join(" "),
    );
    assert.ok(libs.every((l) => l.startsWith("/")));
  });
});
