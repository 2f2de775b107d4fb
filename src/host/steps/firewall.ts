// Step 2: the nftables backstop, loaded by its own early-boot unit. Only `table inet moat` is
// ever touched: no `flush ruleset`, no netfilter-persistent, so the cloud's InstanceServices and
// iSCSI rules (and Docker's and tailscaled's tables) stay as they are. After loading, the live
// table must hold the agent's uids and the gateway accept, or the step fails.
import { NFT_TABLE, NFTABLES_PATH } from "../../render/nftables.js";
import { onVm } from "../../render/paths.js";
import { FIREWALL_UNIT } from "../../render/systemd.js";
import { artifactFile, HOST_STATE_DIR, planFiles, unitFile, writesAny } from "../files.js";
import { observeFiles, output, readText, unitState } from "../shell.js";
import type { Step } from "../step.js";
import type { Action, FileSeen, FileWant, PlanContext } from "../types.js";

// What `nft -s list table inet moat` printed right after the last load: a different listing
// later means someone changed or removed the live table.
const FIREWALL_RECORD = "firewall.live";
const LIST_TABLE = ["nft", "-s", "list", "table", "inet", NFT_TABLE];

export interface FirewallSeen {
  files: ReadonlyMap<string, FileSeen>;
  unit: { enabled: string; active: string };
  live: string | null;
  recorded: string | null;
}

export function firewallFiles(ctx: PlanContext): FileWant[] {
  return [artifactFile(ctx.artifacts, NFTABLES_PATH), unitFile(ctx.artifacts, FIREWALL_UNIT)];
}

export function planFirewall(ctx: PlanContext, seen: FirewallSeen): Action[] {
  const files = firewallFiles(ctx);
  const actions = planFiles(files, seen.files);
  const unitChanged = writesAny(actions, [files[1]?.path ?? ""]);
  const rulesChanged = writesAny(actions, [files[0]?.path ?? ""]);
  if (unitChanged)
    actions.push({ kind: "run", argv: ["systemctl", "daemon-reload"], why: "reload unit files" });
  if (seen.unit.enabled !== "enabled" || unitChanged) {
    actions.push({
      kind: "run",
      argv: ["systemctl", "enable", FIREWALL_UNIT],
      why: "load the firewall at every boot",
    });
  }
  const drifted = seen.live === null || seen.live !== seen.recorded;
  let load: string | null = null;
  if (seen.unit.active !== "active") load = "start";
  else if (rulesChanged || drifted) load = "reload";
  if (load) {
    // reload swaps the table atomically (nft -f); restart would also stop the agent (RequiredBy).
    actions.push({
      kind: "run",
      argv: ["systemctl", load, FIREWALL_UNIT],
      why: `${load} the firewall (${onVm(NFTABLES_PATH)})`,
    });
    actions.push({
      kind: "record",
      name: FIREWALL_RECORD,
      command: LIST_TABLE,
      why: "record the live table",
    });
  }
  return actions;
}

// The live table must name the agent's uid and subuid range and accept the gateway.
export function liveTableProblems(ctx: PlanContext, live: string | null): string[] {
  if (live === null) return [`table inet ${NFT_TABLE} is not loaded`];
  const { agentUid, subidStart, subidCount } = ctx.spec.host;
  const { address, port } = ctx.spec.gateway;
  const problems: string[] = [];
  if (!live.includes(`${agentUid}`) || !live.includes(`${subidStart}-${subidStart + subidCount - 1}`))
    problems.push("the live agent_uids set lacks the agent's uid or subuid range");
  // `nft -s` still prints the word "counter" for counted rules.
  const accept = new RegExp(`ip daddr ${address.replaceAll(".", "\\.")} tcp dport ${port} (counter )?accept`);
  if (!accept.test(live)) problems.push("the live table lacks the gateway accept");
  if (!/meta skuid @agent_uids jump agent_egress/.test(live))
    problems.push("the output chain does not send agent uids to agent_egress");
  return problems;
}

export const firewallStep: Step<FirewallSeen> = {
  name: "firewall",
  title: `nftables table inet ${NFT_TABLE} via ${FIREWALL_UNIT}`,
  observe: (ctx) => ({
    files: observeFiles(firewallFiles(ctx).map((f) => f.path)),
    unit: unitState(FIREWALL_UNIT),
    live: output(LIST_TABLE),
    recorded: readText(`${HOST_STATE_DIR}/${FIREWALL_RECORD}`),
  }),
  plan: planFirewall,
  verify: async (ctx) => liveTableProblems(ctx, output(LIST_TABLE)),
};
