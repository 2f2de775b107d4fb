// The commands the firewall and gateway-address units run, executed as systemd would (a
// leading "-" means a failure is ignored) inside a throwaway namespace, never the host's.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { renderNftables } from "../../src/render/nftables.js";
import { onVm } from "../../src/render/paths.js";
import { parseUnit, renderSystemdUnits } from "../../src/render/systemd.js";
import { specFrom } from "../helpers.js";
import { inNs, TestNet } from "../support/netns.js";
import { needsRoot } from "../support/root.js";

const spec = specFrom();
const unitText = (name: string) =>
  renderSystemdUnits(spec).find((a) => a.path === `systemd/${name}`)?.content ?? "";

describe("unit commands in a namespace", { skip: needsRoot("network namespaces (ip netns)") }, () => {
  const net = new TestNet("moat-unit");
  const dir = mkdtempSync(join(tmpdir(), "moat-unit-"));
  const nftFile = join(dir, "moat.nft");
  let ns = "";

  // Runs one Exec* key of a unit; the bundle path is swapped for this test's copy.
  const exec = (unit: string, key: "ExecStart" | "ExecStop") => {
    for (const { value } of parseUnit(unitText(unit)).filter(
      (e) => e.section === "Service" && e.key === key,
    )) {
      const ignoreFailure = value.startsWith("-");
      const [cmd, ...args] = value.replace(/^-/, "").replace(onVm("nftables/moat.nft"), nftFile).split(" ");
      assert.ok(cmd);
      try {
        inNs(ns, cmd, args);
      } catch (e) {
        if (!ignoreFailure) throw e;
      }
    }
  };

  before(() => {
    ns = net.addNs("host");
    writeFileSync(nftFile, renderNftables(spec)[0]?.content ?? "");
    // A table of the cloud's, which nothing of Moat's may touch.
    inNs(ns, "iptables", ["-N", "InstanceServices"]);
  });
  after(() => {
    net.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("moat-firewall: start twice loads one table, stop removes only Moat's, stop again is harmless", () => {
    exec("moat-firewall.service", "ExecStart");
    exec("moat-firewall.service", "ExecStart");
    assert.equal(inNs(ns, "nft", ["list", "tables"]).match(/table inet moat/g)?.length, 1);
    exec("moat-firewall.service", "ExecStop");
    const tables = inNs(ns, "nft", ["list", "tables"]);
    assert.doesNotMatch(tables, /table inet moat/);
    assert.match(tables, /table ip filter/);
    assert.match(inNs(ns, "iptables", ["-S"]), /-N InstanceServices/);
    assert.doesNotThrow(() => exec("moat-firewall.service", "ExecStop"));
  });

  it("moat-gateway-net: a re-run keeps one address on moat0, stop removes the interface", (t) => {
    try {
      inNs(ns, "ip", ["link", "add", "moat-probe", "type", "dummy"]);
      inNs(ns, "ip", ["link", "del", "moat-probe"]);
    } catch {
      // This kernel has no dummy driver (some CI containers); a veth end stands in for the link
      // the first ExecStart would create, which is exactly the state of a re-run.
      t.diagnostic("no dummy interface support here; moat0 pre-created as veth");
      inNs(ns, "ip", ["link", "add", "moat0", "type", "veth", "peer", "name", "moat0p"]);
    }
    exec("moat-gateway-net.service", "ExecStart");
    exec("moat-gateway-net.service", "ExecStart");
    const addrs = inNs(ns, "ip", ["-4", "-o", "addr", "show", "dev", "moat0"]);
    assert.equal(addrs.match(/inet 198\.18\.0\.1\/32/g)?.length, 1);
    assert.match(inNs(ns, "ip", ["-o", "link", "show", "moat0"]), /[<,]UP[,>]/);
    exec("moat-gateway-net.service", "ExecStop");
    assert.throws(() => inNs(ns, "ip", ["link", "show", "moat0"]));
  });
});
