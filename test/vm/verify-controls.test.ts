// A live negative control for every `moat verify` check that test/vm/lab.test.ts does not
// already break (it breaks container.ports, container.capabilities, container.mounts,
// secrets.agent, gateway.telegram-allowlist and Moat's whole nft table): in one converged Debian 13
// VM (nspawn in test namespaces), with Tailscale (the fake package of host-lab.ts) so
// host.tailscale passes too, each control is broken in turn, verify must fail on exactly the
// checks that control owns, and the control is restored. Where one break necessarily fails more
// than one check, the test says why.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import {
  AS_AGENT,
  buildFakeTailscaleDeb,
  FAKE_TAILSCALE_STATE,
  VM_NODE,
  VM_PACKAGE,
  VM_SPEC,
} from "../support/host-lab.js";
import { needsRoot } from "../support/root.js";
import { VerifyLab, verifySpec } from "../support/verify-lab.js";

const COMPOSE = "/etc/moat/compose/compose.yaml";
const BROKEN = "/tmp/moat-broken-compose.yaml";
const LIVE_SPEC = "/etc/moat/moat.yaml";
const TAILSCALE_KEY = "/root/tailscale-authkey";
const GATEWAY_DROPIN = "/etc/systemd/system/moat-gateway.service.d/vctl-break.conf";
const SUBUIDS = "1000000-1065535";

interface Report {
  checks: { id: string; status: string; detail: string; fix: string }[];
  summary: { ok: boolean; durationMs: number };
}

// The verify lab's spec with Tailscale on, its auth key read from a root-only file.
const specWithTailscale = () => {
  const spec = parse(verifySpec());
  spec.access.tailscale = { authKey: { file: TAILSCALE_KEY } };
  return stringify(spec);
};

// Answers every request with 200, as a gateway that classified nothing would.
const OPEN_PROXY = `require("node:net").createServer((s) => {
  s.on("error", () => {});
  s.once("data", () => s.end("HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n"));
}).listen(3128, "198.18.0.1");
`;

describe("moat verify: a live negative control for every check", {
  skip: needsRoot("boots an nspawn VM in a network namespace"),
  concurrency: false,
  timeout: 900_000,
}, () => {
  const lab = new VerifyLab("vctl");
  const dir = mkdtempSync(join(tmpdir(), "moat-vctl-"));
  const sh = (script: string, input?: string) =>
    lab.vm.must(["sh", "-c", script], { input, timeoutMs: 60_000 });
  const verify = (): { code: number; report: Report } => {
    const r = lab.vm.exec([VM_NODE, `${VM_PACKAGE}/bin/moat.js`, "verify", "-c", VM_SPEC, "--json"], {
      timeoutMs: 30_000,
    });
    try {
      return { code: r.code, report: JSON.parse(r.stdout) };
    } catch {
      throw new Error(`verify printed no report (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  };
  const failing = (report: Report) =>
    report.checks
      .filter((c) => c.status === "fail")
      .map((c) => c.id)
      .sort();
  const detailOf = (report: Report, id: string) => report.checks.find((c) => c.id === id)?.detail ?? "";
  // Breaks a control, runs verify, restores the control whatever happened.
  const brokenBy = (breakIt: () => void, restore: () => void): Report => {
    try {
      breakIt();
      return verify().report;
    } finally {
      restore();
    }
  };
  const composeUp = (file: string) =>
    lab.vm.must([...AS_AGENT, "docker", "compose", "-p", "moat-verify", "-f", file, "up", "-d", "--wait"], {
      timeoutMs: 60_000,
    });
  // Recreates the agent from a mutated copy of the rendered compose file.
  const withBrokenAgent = (mutate: (agent: Record<string, unknown>) => void): Report =>
    brokenBy(
      () => {
        const model = parse(lab.vm.must(["cat", COMPOSE]));
        mutate(model.services.agent);
        sh(`cat > ${BROKEN} && chmod 644 ${BROKEN}`, stringify(model));
        composeUp(BROKEN);
      },
      () => composeUp(COMPOSE),
    );
  const gatewayListening = () =>
    sh(
      "for i in $(seq 100); do ss -Hltn | grep -q '198.18.0.1:3128 ' && exit 0; sleep 0.1; done; echo 'gateway not listening' >&2; exit 1",
    );
  const restartGateway = () => {
    sh("systemctl daemon-reload && systemctl restart moat-gateway.service");
    gatewayListening();
  };
  // A drop-in overriding the gateway's unit, as an operator (or an intruder with root) would write.
  const withGatewayDropIn = (text: string): Report =>
    brokenBy(
      () => {
        sh(`mkdir -p $(dirname ${GATEWAY_DROPIN}) && cat > ${GATEWAY_DROPIN}`, text);
        restartGateway();
      },
      () => {
        sh(`rm -f ${GATEWAY_DROPIN}`);
        restartGateway();
      },
    );
  // The firewall unit's reload puts the rendered table back, replacing whatever was changed in it.
  const withFirewallChanged = (...nft: string[][]): Report =>
    brokenBy(
      () => {
        for (const args of nft) lab.vm.must(["nft", ...args]);
      },
      () => sh("systemctl reload moat-firewall.service"),
    );

  before(async () => {
    await lab.up(specWithTailscale());
    lab.vm.copyIn(buildFakeTailscaleDeb(dir), "/root/tailscale-fake.deb");
    lab.vm.must(["dpkg", "-i", "/root/tailscale-fake.deb"]);
    sh(`umask 077 && cat > ${TAILSCALE_KEY}`, `tskey-auth-kVCTL-${"5e1f".repeat(8)}\n`);
    const { code, report } = lab.apply();
    assert.equal(code, 0, JSON.stringify(report.steps.map((s) => [s.step, s.status, s.error])));
  });
  after(async () => {
    try {
      await lab.down();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("starts green: every required check passes, Tailscale's too (only cgroup v1's limits skip)", () => {
    const { code, report } = verify();
    assert.deepEqual(failing(report), [], JSON.stringify(report.checks, null, 2));
    assert.equal(code, 0);
    const skipped = report.checks.filter((c) => c.status === "skip").map((c) => c.id);
    assert.deepEqual(skipped, ["container.limits"]);
  });

  describe("network, from the agent's side", () => {
    // slirp4netns carries the container's traffic out as the agent's own uid, so a hole for that
    // uid is a hole for the container too: net.container has no break of its own.
    it("an accept for the agent's uid to port 80 fails net.agent-uid and net.container only", () => {
      const report = withFirewallChanged([
        "insert",
        "rule",
        "inet",
        "moat",
        "agent_egress",
        "meta",
        "skuid",
        "2000",
        "tcp",
        "dport",
        "80",
        "accept",
      ]);
      assert.deepEqual(failing(report), ["net.agent-uid", "net.container"]);
      assert.match(detailOf(report, "net.agent-uid"), /169\.254\.169\.254:80/);
    });

    // A subuid's listener then answers too: net.agent-answers probes one (issue 13 item 9).
    it("the subuid range taken out of the firewall's uid set fails net.subuid and net.agent-answers only", () => {
      const report = withFirewallChanged([
        "delete",
        "element",
        "inet",
        "moat",
        "agent_uids",
        `{ ${SUBUIDS} }`,
      ]);
      assert.deepEqual(failing(report), ["net.agent-answers", "net.subuid"]);
      assert.match(
        detailOf(report, "net.agent-answers"),
        /^answered a connection it did not open: uid 1000005 /,
      );
    });

    it("the reply direction accepted for the agent's uids fails net.agent-answers only", () => {
      const report = withFirewallChanged([
        "insert",
        "rule",
        "inet",
        "moat",
        "agent_egress",
        "ct",
        "direction",
        "reply",
        "accept",
      ]);
      assert.deepEqual(failing(report), ["net.agent-answers"]);
      assert.match(detailOf(report, "net.agent-answers"), /uid 2000 on 127\.0\.0\.1:\d+, uid 1000005 on/);
    });

    it("port 53 opened for the agent fails net.dns only", () => {
      const report = withFirewallChanged([
        "insert",
        "rule",
        "inet",
        "moat",
        "agent_egress",
        "meta",
        "l4proto",
        "{ tcp, udp }",
        "th",
        "dport",
        "53",
        "accept",
      ]);
      assert.deepEqual(failing(report), ["net.dns"]);
      assert.match(detailOf(report, "net.dns"), /dns\/udp 192\.0\.2\.1:53/);
    });

    it("the allowlisted domain removed from the gateway's live config fails net.gateway only", () => {
      const original = lab.vm.must(["cat", LIVE_SPEC]);
      const spec = parse(original);
      spec.egress.allow = [];
      const report = brokenBy(
        () => {
          sh(`cat > ${LIVE_SPEC}`, stringify(spec));
          restartGateway();
        },
        () => {
          sh(`cat > ${LIVE_SPEC}`, original);
          restartGateway();
        },
      );
      assert.deepEqual(failing(report), ["net.gateway"]);
      assert.match(detailOf(report, "net.gateway"), /CONNECT example\.org:443 .* answered 403/);
    });

    // Issue 13: the gateway's own config reopening the hosts its routes serve, behind verify's back
    // (verify reads the operator's spec, /root/moat.yaml): the channel to them is open again.
    it("the implied hosts added to the gateway's live egress.allow fail net.implied-hosts only", () => {
      const original = lab.vm.must(["cat", LIVE_SPEC]);
      const spec = parse(original);
      spec.egress.allow = [
        ...spec.egress.allow,
        "api.telegram.org",
        "*.docker.io",
        "*.docker.com",
        "*.cloudflarestorage.com",
      ];
      const report = brokenBy(
        () => {
          sh(`cat > ${LIVE_SPEC}`, stringify(spec));
          restartGateway();
        },
        () => {
          sh(`cat > ${LIVE_SPEC}`, original);
          restartGateway();
        },
      );
      assert.deepEqual(failing(report), ["net.implied-hosts"]);
      assert.match(
        detailOf(report, "net.implied-hosts"),
        /not refused to the agent: CONNECT api\.telegram\.org:443 → /,
      );
    });

    // The live gateway told 443 carries no TLS splices the fronted hello through to example.org's
    // listener (verify's own spec still says 443 is TLS, as the operator meant it).
    it("443 listed in the live config's plainConnectPorts fails net.gateway-sni only", () => {
      const original = lab.vm.must(["cat", LIVE_SPEC]);
      const spec = parse(original);
      spec.egress.plainConnectPorts = [443];
      const report = brokenBy(
        () => {
          sh(`cat > ${LIVE_SPEC}`, stringify(spec));
          restartGateway();
        },
        () => {
          sh(`cat > ${LIVE_SPEC}`, original);
          restartGateway();
        },
      );
      assert.deepEqual(failing(report), ["net.gateway-sni"]);
      assert.match(
        detailOf(report, "net.gateway-sni"),
        /SNI fronted\.moat-verify\.invalid: not refused by the gateway/,
      );
    });

    // Everything that talks to the gateway loses it at once.
    it("the gateway stopped fails net.gateway and every check that needs the gateway", () => {
      const report = brokenBy(
        () => sh("systemctl stop moat-gateway.service"),
        () => {
          sh("systemctl start moat-gateway.service");
          gatewayListening();
        },
      );
      assert.deepEqual(failing(report), [
        "gateway.telegram-allowlist",
        "host.gateway-user",
        "net.gateway",
        "net.gateway-refuses",
        "net.gateway-sni",
        "net.implied-hosts",
      ]);
    });

    // A gateway that classifies nothing opens the Telegram relay as much as the address spellings,
    // reads no ClientHello, and reaches the hosts the gateway's own routes serve.
    it("an open proxy in the gateway's place fails net.gateway-refuses, net.gateway-sni, net.implied-hosts and gateway.telegram-allowlist only", () => {
      sh("cat > /etc/moat-vctl-open-proxy.js", OPEN_PROXY);
      const report = withGatewayDropIn(
        "[Service]\nExecStart=\nExecStart=/usr/bin/node /etc/moat-vctl-open-proxy.js\n",
      );
      assert.deepEqual(failing(report), [
        "gateway.telegram-allowlist",
        "net.gateway-refuses",
        "net.gateway-sni",
        "net.implied-hosts",
      ]);
      assert.match(detailOf(report, "net.gateway-refuses"), /169\.254\.169\.254:443 → 200/);
    });
  });

  describe("the agent's container", () => {
    // Privileged gives the container the full capability bounding set, which the capability
    // check reads inside, and Docker runs a privileged container without its seccomp profile
    // (found only since container.seccomp counts filters: nspawn's own made it look enforced).
    it("privileged: true fails container.privileged, container.capabilities and container.seccomp only", () => {
      const report = withBrokenAgent((a) => {
        a.privileged = true;
      });
      assert.deepEqual(failing(report), [
        "container.capabilities",
        "container.privileged",
        "container.seccomp",
      ]);
      assert.match(detailOf(report, "container.seccomp"), /none of the container's own/);
    });

    it("read_only: false fails container.read-only only", () => {
      const report = withBrokenAgent((a) => {
        a.read_only = false;
      });
      assert.deepEqual(failing(report), ["container.read-only"]);
    });

    it("no-new-privileges dropped fails container.no-new-privs only", () => {
      const report = withBrokenAgent((a) => {
        a.security_opt = (a.security_opt as string[]).filter((o) => !o.startsWith("no-new-privileges"));
      });
      assert.deepEqual(failing(report), ["container.no-new-privs"]);
    });

    // Inside nspawn every process inherits the VM's own filter (Seccomp 2), so this fails only
    // because the check counts the container's filters over its shim's.
    it("seccomp=unconfined fails container.seccomp only, on the kernel's count of filters", () => {
      const report = withBrokenAgent((a) => {
        a.security_opt = ["no-new-privileges:true", "seccomp=unconfined"];
      });
      assert.deepEqual(failing(report), ["container.seccomp"]);
      assert.match(detailOf(report, "container.seccomp"), /none of the container's own/);
    });

    it("Docker's default profile instead of Moat's fails container.seccomp only", () => {
      const report = withBrokenAgent((a) => {
        a.security_opt = ["no-new-privileges:true"];
      });
      assert.deepEqual(failing(report), ["container.seccomp"]);
      assert.match(detailOf(report, "container.seccomp"), /not Moat's profile/);
    });

    it("a writable tmpfs without noexec fails container.tmpfs-noexec only: a script there ran", () => {
      const report = withBrokenAgent((a) => {
        a.tmpfs = ["/tmp:exec,mode=1777,size=64m"];
      });
      assert.deepEqual(failing(report), ["container.tmpfs-noexec"]);
      assert.match(
        detailOf(report, "container.tmpfs-noexec"),
        /without noexec; a script written to \/tmp ran/,
      );
    });

    it("the rendered tmpfs with noexec taken out fails container.tmpfs-noexec only", () => {
      const report = withBrokenAgent((a) => {
        a.tmpfs = (a.tmpfs as string[]).map((t) => t.replace("noexec", "exec"));
      });
      assert.deepEqual(failing(report), ["container.tmpfs-noexec"]);
    });

    it("user 0:0 fails container.user only", () => {
      const report = withBrokenAgent((a) => {
        a.user = "0:0";
      });
      assert.deepEqual(failing(report), ["container.user"]);
    });

    // The enforced half cannot run on this cgroup v1 host (the check skips it); it is judged in
    // test/unit/verify-core.test.ts. The configured half fails live.
    it("memory and pids limits removed fail container.limits only", () => {
      const report = withBrokenAgent((a) => {
        delete a.mem_limit;
        delete a.memswap_limit;
        delete a.pids_limit;
      });
      assert.deepEqual(failing(report), ["container.limits"]);
      assert.match(detailOf(report, "container.limits"), /configured memory 0/);
    });

    it("the rootful Docker daemon started fails container.rootless only", () => {
      const report = brokenBy(
        () => sh("systemctl start docker.service"),
        () => sh("systemctl stop docker.service docker.socket"),
      );
      assert.deepEqual(failing(report), ["container.rootless"]);
    });
  });

  describe("the host", () => {
    it("a service listening on 0.0.0.0 fails host.listeners only", () => {
      const report = brokenBy(
        () =>
          sh(
            `systemd-run --unit=vctl-listener /usr/bin/node -e 'require("node:net").createServer().listen(9999, "0.0.0.0")' && for i in $(seq 50); do ss -Hltn | grep -q ':9999 ' && exit 0; sleep 0.1; done; exit 1`,
          ),
        () => sh("systemctl stop vctl-listener.service"),
      );
      assert.deepEqual(failing(report), ["host.listeners"]);
      assert.match(detailOf(report, "host.listeners"), /tcp 0\.0\.0\.0:9999 \(node\)/);
    });

    it("an sshd drop-in sorting before Moat's turning passwords on fails host.sshd only", () => {
      const report = brokenBy(
        () => sh("cat > /etc/ssh/sshd_config.d/10-vctl.conf", "PasswordAuthentication yes\n"),
        () => sh("rm -f /etc/ssh/sshd_config.d/10-vctl.conf"),
      );
      assert.deepEqual(failing(report), ["host.sshd"]);
      assert.match(detailOf(report, "host.sshd"), /passwordauthentication is yes/);
    });

    it("fail2ban stopped fails host.fail2ban only", () => {
      const report = brokenBy(
        () => sh("systemctl stop fail2ban.service"),
        () =>
          sh(
            "systemctl start fail2ban.service && for i in $(seq 100); do fail2ban-client status sshd >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1",
          ),
      );
      assert.deepEqual(failing(report), ["host.fail2ban"]);
    });

    it("the firewall unit disabled (table still loaded) fails host.firewall only", () => {
      const report = brokenBy(
        () => sh("systemctl disable moat-firewall.service"),
        () => lab.apply(["--only", "firewall"]),
      );
      assert.deepEqual(failing(report), ["host.firewall"]);
      assert.equal(lab.vm.must(["systemctl", "is-enabled", "moat-firewall.service"]).trim(), "enabled");
    });

    // PrivateUsers= and the empty bounding set alone keep root from opening the gateway user's
    // audit log, so the gateway would not start at all; this drop-in lets it really run as root.
    it("the gateway running as root fails host.gateway-user only", () => {
      const report = withGatewayDropIn(
        "[Service]\nUser=root\nGroup=root\nPrivateUsers=no\nCapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH\n",
      );
      assert.deepEqual(failing(report), ["host.gateway-user"]);
      assert.match(detailOf(report, "host.gateway-user"), /runs as uid 0\/0\/0\/0/);
    });

    it("unattended upgrades switched off in apt's config fail host.unattended-upgrades only", () => {
      const report = brokenBy(
        () => sh("cat > /etc/apt/apt.conf.d/99vctl-off", 'APT::Periodic::Unattended-Upgrade "0";\n'),
        () => sh("rm -f /etc/apt/apt.conf.d/99vctl-off"),
      );
      assert.deepEqual(failing(report), ["host.unattended-upgrades"]);
    });

    it("apt-daily-upgrade.timer disabled fails host.unattended-upgrades only", () => {
      const report = brokenBy(
        () => sh("systemctl disable --now apt-daily-upgrade.timer"),
        () => sh("systemctl enable --now apt-daily-upgrade.timer"),
      );
      assert.deepEqual(failing(report), ["host.unattended-upgrades"]);
    });

    it("Tailscale logged out fails host.tailscale only", () => {
      const report = brokenBy(
        () => sh(`rm ${FAKE_TAILSCALE_STATE}/running`),
        () => sh(`touch ${FAKE_TAILSCALE_STATE}/running`),
      );
      assert.deepEqual(failing(report), ["host.tailscale"]);
      assert.match(detailOf(report, "host.tailscale"), /NeedsLogin/);
    });
  });

  it("is green again once every control is restored", () => {
    const { code, report } = verify();
    assert.deepEqual(failing(report), [], JSON.stringify(report.checks, null, 2));
    assert.equal(code, 0);
  });
});
