// The rendered table against the real nft parser, in a throwaway namespace so nothing reaches
// the machine's own ruleset. `nft -c` checks a whole transaction without committing it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { renderNftables } from "../../src/render/nftables.js";
import { specFrom } from "../helpers.js";
import { inNs, TestNet } from "../support/netns.js";
import { needsRoot } from "../support/root.js";

const SPECS: Record<string, string | undefined> = {
  example: undefined,
  "ssh target, custom uids and gateway": `
version: 1
name: custom
target: { kind: ssh, host: vm.example.com }
host: { agentUid: 5000, gatewayUid: 5001, subidStart: 200000, subidCount: 131072 }
gateway: { address: 198.19.255.254, port: 65000 }
`,
};

describe("nftables syntax (nft -c -f)", { skip: needsRoot("network namespaces (ip netns)") }, () => {
  const net = new TestNet("moat-nftc");
  const dir = mkdtempSync(join(tmpdir(), "moat-nftc-"));
  let ns = "";
  const check = (text: string, name: string) => {
    const file = join(dir, `${name}.nft`);
    writeFileSync(file, text);
    return inNs(ns, "nft", ["-c", "-f", file]);
  };

  before(() => {
    ns = net.addNs("check");
  });
  after(() => {
    net.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, yaml] of Object.entries(SPECS)) {
    it(`accepts the table rendered for the ${name} spec`, () => {
      const text = renderNftables(specFrom(yaml))[0]?.content ?? "";
      assert.doesNotThrow(() => check(text, name.replace(/\W+/g, "-")));
    });
  }

  it("negative control: the same check refuses a malformed table", () => {
    const text = (renderNftables(specFrom())[0]?.content ?? "").replace(
      "reject with tcp reset",
      "reject with tcp rest",
    );
    assert.throws(() => check(text, "broken"), /Error/);
  });
});
