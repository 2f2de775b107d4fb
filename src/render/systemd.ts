// systemd units for the host: the firewall loaded before the network, the gateway's address,
// the gateway itself in a sandbox, and a drift-check timer. Units are plain text built from
// [section, key, value] rows so the same rows can be checked against a unit on disk.
import { gatewayMemory } from "../gateway/body-budget.js";
import type { MoatSpec } from "../spec/schema.js";
import type { Artifact } from "./artifact.js";
import { NFT_TABLE, NFTABLES_PATH } from "./nftables.js";
import {
  GATEWAY_INTERFACE,
  INSTALLED_MOAT_JS,
  LOG_DIR,
  onVm,
  SECRETS_DIR,
  SPEC_ON_VM,
  STATE_DIR,
  SYSTEM_NODE,
} from "./paths.js";

export const FIREWALL_UNIT = "moat-firewall.service";
export const GATEWAY_NET_UNIT = "moat-gateway-net.service";
export const GATEWAY_UNIT = "moat-gateway.service";
export const DRIFT_UNIT = "moat-drift.service";
export const DRIFT_TIMER = "moat-drift.timer";

// Binaries by the paths Debian 12/13 and Ubuntu 22.04/24.04 all provide (merged /usr).
const NFT = "/usr/sbin/nft";
const IP = "/bin/ip";

type Row = [key: string, value: string];
type Unit = { name: string; sections: [section: string, rows: Row[]][] };

function unitText(unit: Unit): string {
  const blocks = unit.sections.map(
    ([section, rows]) => `[${section}]\n${rows.map(([k, v]) => `${k}=${v}`).join("\n")}\n`,
  );
  return `# Rendered by Moat from moat.yaml; edit the spec, not this file.\n${blocks.join("\n")}`;
}

function firewallUnit(spec: MoatSpec): Unit {
  const nftFile = onVm(NFTABLES_PATH);
  const agentManager = `user@${spec.host.agentUid}.service`;
  return {
    name: FIREWALL_UNIT,
    sections: [
      [
        "Unit",
        [
          ["Description", `Moat egress firewall for ${spec.host.agentUser} (nft table inet ${NFT_TABLE})`],
          // Early boot: loaded before any interface is up and before anything the agent runs on.
          ["DefaultDependencies", "no"],
          ["Wants", "network-pre.target"],
          ["Before", `network-pre.target docker.service tailscaled.service ${agentManager} shutdown.target`],
          ["Conflicts", "shutdown.target"],
        ],
      ],
      [
        "Service",
        [
          ["Type", "oneshot"],
          ["RemainAfterExit", "yes"],
          ["ExecStart", `${NFT} -f ${nftFile}`],
          // Reload swaps the table atomically; a restart would also restart the agent (RequiredBy).
          ["ExecReload", `${NFT} -f ${nftFile}`],
          // Only Moat's table; "-" because a table already gone is the state stop wants.
          ["ExecStop", `-${NFT} delete table inet ${NFT_TABLE}`],
        ],
      ],
      [
        "Install",
        [
          ["WantedBy", "sysinit.target"],
          // Fail closed: the agent's user manager (its rootless Docker) cannot start, and stops,
          // without the firewall.
          ["RequiredBy", agentManager],
        ],
      ],
    ],
  };
}

function gatewayNetUnit(spec: MoatSpec): Unit {
  const dev = GATEWAY_INTERFACE;
  return {
    name: GATEWAY_NET_UNIT,
    sections: [
      [
        "Unit",
        [
          ["Description", `Moat gateway address ${spec.gateway.address} on dummy interface ${dev}`],
          ["DefaultDependencies", "no"],
          ["Before", `network-pre.target ${GATEWAY_UNIT} shutdown.target`],
          ["Conflicts", "shutdown.target"],
        ],
      ],
      [
        "Service",
        [
          ["Type", "oneshot"],
          ["RemainAfterExit", "yes"],
          // "-": on a re-run the link exists; the next two lines fail if it really is missing.
          ["ExecStart", `-${IP} link add ${dev} type dummy`],
          ["ExecStart", `${IP} addr replace ${spec.gateway.address}/32 dev ${dev}`],
          ["ExecStart", `${IP} link set ${dev} up`],
          ["ExecStop", `-${IP} link del ${dev}`],
        ],
      ],
      ["Install", [["WantedBy", "multi-user.target"]]],
    ],
  };
}

// The gateway's sandbox. MemoryDenyWriteExecute is deliberately absent: it forbids writable
// and executable memory, which V8's JIT needs (systemd.exec(5): "incompatible with programs
// and libraries that generate program code dynamically at runtime, including JIT execution
// engines"), so Node would fail to run.
export const GATEWAY_SANDBOX: readonly Row[] = [
  ["NoNewPrivileges", "yes"],
  ["ProtectSystem", "strict"],
  ["ProtectHome", "yes"],
  ["PrivateTmp", "yes"],
  ["PrivateDevices", "yes"],
  ["PrivateUsers", "yes"],
  ["PrivateMounts", "yes"],
  ["CapabilityBoundingSet", ""],
  ["AmbientCapabilities", ""],
  ["RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"],
  ["RestrictNamespaces", "yes"],
  ["RestrictRealtime", "yes"],
  ["RestrictSUIDSGID", "yes"],
  ["LockPersonality", "yes"],
  ["RemoveIPC", "yes"],
  ["ProtectKernelTunables", "yes"],
  ["ProtectKernelModules", "yes"],
  ["ProtectKernelLogs", "yes"],
  ["ProtectControlGroups", "yes"],
  ["ProtectClock", "yes"],
  ["ProtectHostname", "yes"],
  ["ProtectProc", "invisible"],
  ["ProcSubset", "pid"],
  ["SystemCallArchitectures", "native"],
  ["SystemCallFilter", "@system-service"],
  ["SystemCallFilter", "~@privileged"],
  // A filtered call fails with EPERM instead of killing the process; libuv falls back.
  ["SystemCallErrorNumber", "EPERM"],
  ["UMask", "0077"],
  // The only writable places.
  ["ReadWritePaths", `${STATE_DIR} ${LOG_DIR}`],
  // Secret files host apply installs, root-owned and readable by the gateway's group only.
  ["ReadOnlyPaths", SECRETS_DIR],
];

const megabytes = (bytes: number) => `${Math.ceil(bytes / 2 ** 20)}M`;

function gatewayUnit(spec: MoatSpec): Unit {
  const { gatewayUser } = spec.host;
  const memory = gatewayMemory(spec);
  return {
    name: GATEWAY_UNIT,
    sections: [
      [
        "Unit",
        [
          ["Description", "Moat gateway: the agent's only way out (egress allowlist, credential injection)"],
          ["Requires", GATEWAY_NET_UNIT],
          ["Wants", "network-online.target"],
          ["After", `${GATEWAY_NET_UNIT} ${FIREWALL_UNIT} network-online.target`],
          // No start-rate limit: the default (5 starts in 10 s) would leave a gateway that keeps
          // crashing stopped for good, and the agent offline until someone notices. RestartSec
          // already spaces the attempts, so a crash loop costs at most one start a second.
          ["StartLimitIntervalSec", "0"],
        ],
      ],
      [
        "Service",
        [
          ["Type", "simple"],
          ["User", gatewayUser],
          ["Group", gatewayUser],
          ["ExecStart", `${SYSTEM_NODE} ${INSTALLED_MOAT_JS} gateway -c ${SPEC_ON_VM}`],
          // The gateway re-reads its configuration on SIGHUP.
          ["ExecReload", "/bin/kill -HUP $MAINPID"],
          // Any exit, clean or not (an OOM kill included): the agent has no other way out.
          ["Restart", "always"],
          ["RestartSec", "1s"],
          // Sized from the spec's body budget (gateway/body-budget.ts): MemoryHigh reclaims and
          // throttles first, MemoryMax is the hard stop (an OOM kill, then a restart).
          ["MemoryHigh", megabytes(memory.high)],
          ["MemoryMax", megabytes(memory.max)],
          ["Environment", "NODE_ENV=production"],
          // `{ env: NAME }` secrets on the VM: systemd reads this root-only file before dropping
          // to the gateway user, so the user itself needs no access to it. Optional ("-").
          ["EnvironmentFile", `-${SECRETS_DIR}/gateway.env`],
          ...GATEWAY_SANDBOX,
        ],
      ],
      ["Install", [["WantedBy", "multi-user.target"]]],
    ],
  };
}

function driftUnits(): Unit[] {
  return [
    {
      name: DRIFT_UNIT,
      sections: [
        [
          "Unit",
          [
            ["Description", "Moat drift check: firewall, container posture and listening sockets"],
            ["After", `${FIREWALL_UNIT} ${GATEWAY_UNIT}`],
          ],
        ],
        [
          "Service",
          [
            // Root: it reloads the firewall and inspects the agent's rootless Docker.
            ["Type", "oneshot"],
            ["ExecStart", `${SYSTEM_NODE} ${INSTALLED_MOAT_JS} host drift -c ${SPEC_ON_VM}`],
            ["Nice", "10"],
          ],
        ],
      ],
    },
    {
      name: DRIFT_TIMER,
      sections: [
        ["Unit", [["Description", "Run the Moat drift check every five minutes"]]],
        [
          "Timer",
          [
            ["OnBootSec", "5min"],
            ["OnUnitActiveSec", "5min"],
            ["AccuracySec", "30s"],
            ["Unit", DRIFT_UNIT],
          ],
        ],
        ["Install", [["WantedBy", "timers.target"]]],
      ],
    },
  ];
}

export function renderSystemdUnits(spec: MoatSpec): Artifact[] {
  const units = [firewallUnit(spec), gatewayNetUnit(spec), gatewayUnit(spec), ...driftUnits()];
  return units.map((u) => ({
    kind: "systemd-unit",
    path: `systemd/${u.name}`,
    content: unitText(u),
    mode: 0o644,
  }));
}

// A unit file as ordered (section, key, value) entries; repeated keys stay separate.
export function parseUnit(text: string): { section: string; key: string; value: string }[] {
  const entries: { section: string; key: string; value: string }[] = [];
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = line.match(/^\[(.+)\]$/);
    if (header?.[1]) {
      section = header[1];
      continue;
    }
    const eq = line.indexOf("=");
    if (eq > 0) entries.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return entries;
}

// Sandboxing directives the gateway unit lacks or sets differently; empty when it is as
// rendered. An empty value must be present as such (an unset CapabilityBoundingSet keeps all).
export function missingSandboxing(unit: string): string[] {
  const service = parseUnit(unit).filter((e) => e.section === "Service");
  const missing: string[] = [];
  for (const [key, value] of GATEWAY_SANDBOX) {
    if (!service.some((e) => e.key === key && e.value === value)) missing.push(`${key}=${value}`);
  }
  if (service.some((e) => e.key === "MemoryDenyWriteExecute" && e.value === "yes")) {
    missing.push("MemoryDenyWriteExecute=yes breaks Node's JIT");
  }
  const writable = service.filter((e) => e.key === "ReadWritePaths").map((e) => e.value);
  if (writable.join(" ") !== `${STATE_DIR} ${LOG_DIR}`)
    missing.push(`ReadWritePaths is ${writable.join(" ")}`);
  return missing;
}
