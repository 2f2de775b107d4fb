// The rendered fail2ban jail against the real fail2ban-client (tools tier: needs fail2ban; the
// renderer's pure cases are in test/unit/fail2ban.test.ts).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { renderFail2ban } from "../../src/render/fail2ban.js";
import { specFrom } from "../helpers.js";

const jail = (yaml?: string) => renderFail2ban(specFrom(yaml))[0]?.content ?? "";

// fail2ban reads a copy of the system's configuration with the drop-in added; `-t` parses
// every jail, filter and action, and `-d` dumps the commands the server would run.
describe("fail2ban sshd jail against the real fail2ban-client", () => {
  const dir = mkdtempSync(join(tmpdir(), "moat-f2b-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const configWith = (name: string, jailText: string) => {
    const conf = join(dir, name);
    cpSync("/etc/fail2ban", conf, { recursive: true });
    writeFileSync(join(conf, "jail.d", "moat-sshd.local"), jailText);
    return conf;
  };
  const client = (conf: string, flag: "-t" | "-d") =>
    execFileSync("fail2ban-client", ["-c", conf, flag], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });

  // The sshd jail's dumped commands, one per line.
  const sshdCommands = (conf: string) =>
    client(conf, "-d")
      .split("\n")
      .filter(
        (l) =>
          l.startsWith("['set', 'sshd'") ||
          l.startsWith("['multi-set', 'sshd'") ||
          l.startsWith("['add', 'sshd'"),
      );

  // Everything the sshd jail would do to the firewall must stay inside fail2ban's own nft table.
  const firewallTouches = (commands: string[]) =>
    commands.filter((l) => /iptables|ip6tables|flush ruleset|table ip filter/.test(l));

  it("passes fail2ban-client -t", () => {
    assert.match(client(configWith("ok", jail()), "-t"), /OK: configuration test is successful/);
  });

  it("loads the jail with the systemd backend, the journal matches and only the host ignored", () => {
    const commands = sshdCommands(configWith("dump", jail()));
    assert.ok(commands.includes("['add', 'sshd', 'systemd']"), commands.join("\n"));
    assert.ok(commands.some((c) => c.includes("'addjournalmatch'") && c.includes("'_COMM=sshd-session'")));
    assert.ok(commands.includes("['set', 'sshd', 'addignoreip', '127.0.0.1/8', '::1']"));
    assert.ok(commands.some((c) => c.includes("nft add table inet f2b-table")));
    assert.deepEqual(firewallTouches(commands), []);
  });

  it("negative control: the distribution's default ban action would write iptables rules, and the check sees it", () => {
    const withoutBanaction = jail()
      .split("\n")
      .filter((l) => !l.startsWith("banaction"))
      .join("\n");
    assert.notDeepEqual(firewallTouches(sshdCommands(configWith("default-action", withoutBanaction))), []);
  });

  it("negative control: fail2ban-client -t refuses a jail naming an action that does not exist", () => {
    const broken = jail().replace("banaction = nftables-multiport", "banaction = moat-no-such-action");
    assert.throws(() => client(configWith("broken", broken), "-t"));
  });
});
