// The host around the agent: listeners, sshd's effective config, fail2ban, the firewall table,
// the gateway's own user, unattended upgrades, Tailscale.
import { NFT_TABLE } from "../../render/nftables.js";
import { sshdMismatches } from "../../render/sshd.js";
import { FIREWALL_UNIT, GATEWAY_UNIT } from "../../render/systemd.js";
import type { MoatSpec } from "../../spec/schema.js";
import { sh } from "../shell.js";
import { type Check, fail, type Listener, pass, skip } from "../types.js";

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

// Listeners on a non-loopback address that Moat does not expect. The agent's published ports are
// judged by container.ports, so a port published wide open fails there, once.
export function unexpectedListeners(
  spec: MoatSpec,
  listeners: readonly Listener[],
  published: number[],
): string[] {
  const sshPort = spec.target.kind === "ssh" ? spec.target.port : 22;
  return listeners
    .filter((l) => !LOOPBACK.test(l.address.replace(/%.*$/, "")))
    .filter((l) => !(l.address === spec.gateway.address && l.port === spec.gateway.port))
    .filter((l) => !(l.proto === "tcp" && l.port === sshPort && /^sshd?$/.test(l.process)))
    .filter((l) => !(spec.access.tailscale && l.process === "tailscaled"))
    .filter((l) => !(l.proto === "udp" && [68, 546].includes(l.port)))
    .filter(
      (l) => !(l.uid === spec.host.agentUid && (published.includes(l.port) || l.process === "slirp4netns")),
    )
    .map((l) => `${l.proto} ${l.address}:${l.port} (${l.process || "?"})`);
}

export const publicListeners: Check = {
  id: "host.listeners",
  title: "only expected listeners on public interfaces",
  required: true,
  run: async (ctx) => {
    const c = await ctx.observe.container();
    const published = Object.values(c?.HostConfig?.PortBindings ?? {})
      .flatMap((b) => b ?? [])
      .map((b) => Number(b.HostPort));
    const bad = unexpectedListeners(ctx.spec, await ctx.observe.listeners(), published);
    return bad.length
      ? fail(`unexpected: ${bad.join(", ")}`, "stop the service or bind it to 127.0.0.1")
      : pass("sshd and the gateway only");
  },
};

export const sshdConfig: Check = {
  id: "host.sshd",
  title: "sshd's effective configuration (sshd -T) is Moat's",
  required: true,
  run: async (ctx) => {
    const r = await sh(["sshd", "-T"]);
    if (r.code !== 0)
      return fail(`sshd -T failed: ${r.stderr.trim().slice(0, 200)}`, "run `moat host apply --only access`");
    const problems = sshdMismatches(ctx.spec, r.stdout);
    return problems.length
      ? fail(
          problems.join("; "),
          "remove the drop-in overriding Moat's (sorting before 50-moat.conf) and `moat host apply --only access`",
        )
      : pass("keys only, no root password login, no forwarding, modern kex");
  },
};

export const fail2banJail: Check = {
  id: "host.fail2ban",
  title: "fail2ban's sshd jail is active",
  required: true,
  run: async () => {
    const r = await sh(["fail2ban-client", "status", "sshd"]);
    return r.code === 0
      ? pass("jail sshd active")
      : fail(
          `fail2ban-client status sshd: ${(r.stderr || r.stdout).trim().slice(0, 200)}`,
          "run `moat host apply --only access`",
        );
  },
};

export const firewallLoaded: Check = {
  id: "host.firewall",
  title: "the nftables table is loaded and its unit enabled",
  required: true,
  run: async () => {
    const [table, enabled] = await Promise.all([
      sh(["nft", "list", "table", "inet", NFT_TABLE]),
      sh(["systemctl", "is-enabled", FIREWALL_UNIT]),
    ]);
    if (table.code !== 0 || !table.stdout.includes("jump agent_egress"))
      return fail(
        `table inet ${NFT_TABLE} is not loaded`,
        `systemctl reload ${FIREWALL_UNIT} (or \`moat host apply --only firewall\`)`,
      );
    if (enabled.stdout.trim() !== "enabled")
      return fail(
        `${FIREWALL_UNIT} is ${enabled.stdout.trim() || "unknown"}`,
        `systemctl enable ${FIREWALL_UNIT}`,
      );
    return pass(`table inet ${NFT_TABLE} loaded; ${FIREWALL_UNIT} enabled`);
  },
};

export const gatewayOwnUser: Check = {
  id: "host.gateway-user",
  title: "the gateway runs as its own unprivileged user",
  required: true,
  run: async (ctx) => {
    const { gatewayUid, gatewayUser, agentUid } = ctx.spec.host;
    const pid = (await sh(["systemctl", "show", "-p", "MainPID", "--value", GATEWAY_UNIT])).stdout.trim();
    if (!Number(pid)) return fail(`${GATEWAY_UNIT} is not running`, `systemctl start ${GATEWAY_UNIT}`);
    const status = await sh(["cat", `/proc/${pid}/status`]);
    const uids =
      status.stdout
        .match(/^Uid:\s+(.*)$/m)?.[1]
        ?.split(/\s+/)
        .map(Number) ?? [];
    if (!uids.length || uids.some((u) => u !== gatewayUid) || gatewayUid === agentUid)
      return fail(
        `the gateway (pid ${pid}) runs as uid ${uids.join("/")}, not ${gatewayUser} (${gatewayUid})`,
        `remove the User= override and \`moat host apply --only gateway\``,
      );
    return pass(`pid ${pid} as ${gatewayUser} (uid ${gatewayUid})`);
  },
};

export const unattendedUpgrades: Check = {
  id: "host.unattended-upgrades",
  title: "unattended upgrades are on",
  required: true,
  run: async () => {
    const [conf, timer] = await Promise.all([
      sh(["apt-config", "dump", "APT::Periodic::Unattended-Upgrade"]),
      sh(["systemctl", "is-enabled", "apt-daily-upgrade.timer"]),
    ]);
    const on = /Unattended-Upgrade "1"/.test(conf.stdout);
    if (!on)
      return fail("APT::Periodic::Unattended-Upgrade is not 1", "dpkg-reconfigure -plow unattended-upgrades");
    if (timer.stdout.trim() !== "enabled")
      return fail("apt-daily-upgrade.timer is not enabled", "systemctl enable --now apt-daily-upgrade.timer");
    return pass("APT::Periodic::Unattended-Upgrade 1; apt-daily-upgrade.timer enabled");
  },
};

export const tailscaleUp: Check = {
  id: "host.tailscale",
  title: "Tailscale is up",
  required: true,
  run: async (ctx) => {
    if (!ctx.spec.access.tailscale) return skip("access.tailscale is not set in moat.yaml");
    const r = await sh(["tailscale", "status", "--json"]);
    const state = r.code === 0 ? (JSON.parse(r.stdout) as { BackendState?: string }).BackendState : undefined;
    return state === "Running"
      ? pass("tailscaled Running")
      : fail(
          `tailscale state ${state ?? r.stderr.trim().slice(0, 120)}`,
          "run `moat host apply --only access` with the auth key in place",
        );
  },
};
