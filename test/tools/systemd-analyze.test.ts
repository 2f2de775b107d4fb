// The rendered systemd units against the real systemd-analyze (tools tier: needs systemd; the
// renderer's pure cases are in test/unit/systemd.test.ts).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { GATEWAY_SANDBOX, renderSystemdUnits } from "../../src/render/systemd.js";
import { specFrom } from "../helpers.js";

const spec = specFrom();
const units = () =>
  new Map(renderSystemdUnits(spec).map((a) => [a.path.replace(/^systemd\//, ""), a.content]));

// systemd's own parser, offline: `verify` loads each unit with its dependencies and checks the
// commands exist; `security --offline` scores the sandbox without a running manager.
describe("systemd units against systemd-analyze", () => {
  const dir = mkdtempSync(join(tmpdir(), "moat-units-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const writeUnits = (sub: string, edit: (name: string, text: string) => string = (_n, t) => t) => {
    const d = join(dir, sub);
    mkdirSync(d, { recursive: true });
    for (const [name, text] of units()) writeFileSync(join(d, name), edit(name, text));
    return [...units().keys()].map((n) => join(d, n));
  };
  const analyze = (args: string[]) => spawnSync("systemd-analyze", args, { encoding: "utf8" });

  it("systemd-analyze verify accepts every unit without a warning", () => {
    const r = analyze(["verify", ...writeUnits("ok")]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), "");
  });

  it("negative control: verify reports a misspelled directive and a missing command", () => {
    const files = writeUnits("broken", (name, text) =>
      name === "moat-gateway.service"
        ? text.replace("ProtectSystem=strict", "ProtectSytem=strict")
        : text.replace("/usr/sbin/nft -f", "/usr/sbin/moat-no-such-nft -f"),
    );
    const r = analyze(["verify", ...files]);
    assert.match(r.stderr, /Unknown key 'ProtectSytem'/);
    assert.match(r.stderr, /moat-no-such-nft is not executable/);
    assert.notEqual(r.status, 0);
  });

  const exposure = (file: string) => {
    const r = analyze(["security", "--offline=true", file]);
    const m = r.stdout.match(/Overall exposure level for \S+: ([\d.]+)/);
    assert.ok(m?.[1], r.stdout + r.stderr);
    return Number(m[1]);
  };

  it("systemd-analyze security rates the gateway's sandbox OK (exposure below 2)", () => {
    const [file] = writeUnits("score").filter((f) => f.endsWith("/moat-gateway.service"));
    assert.ok(file);
    assert.ok(exposure(file) < 2);
  });

  it("negative control: without the sandbox rows the same score is high", () => {
    const sandbox = new Set(GATEWAY_SANDBOX.map(([k, v]) => `${k}=${v}`));
    const [file] = writeUnits("bare", (_n, text) =>
      text
        .split("\n")
        .filter((l) => !sandbox.has(l))
        .join("\n"),
    ).filter((f) => f.endsWith("/moat-gateway.service"));
    assert.ok(file);
    assert.ok(exposure(file) > 7);
  });
});
