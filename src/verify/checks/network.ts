// Network checks from the agent's side: every address-table row, the host's own ports and every
// resolver refused, from the agent's uid, a uid of its subuid range and inside its container;
// the gateway reachable and an allowlisted domain through it; dangerous spellings refused by it.
import { readFileSync } from "node:fs";
import { SPEC_ON_VM } from "../../render/paths.js";
import { ADDRESS_CASES } from "../../spec/address-cases.js";
import { TELEGRAM_PLACEHOLDER_TOKEN } from "../../spec/derive.js";
import type { MoatSpec } from "../../spec/schema.js";
import type { ProbeTarget } from "../probe-script.js";
import { probeAsUid, probeInContainer } from "../probes.js";
import {
  dnsTargets,
  hostPortTargets,
  judgeRefused,
  label,
  resolverAddresses,
  tableTargets,
  withoutOwnPort,
} from "../targets.js";
import { type Check, fail, pass, skip, type VerifyContext } from "../types.js";

const FIREWALL_FIX = "run `moat host apply --only firewall` and check `nft list table inet moat`";

const resolvers = () => {
  try {
    return resolverAddresses(readFileSync("/etc/resolv.conf", "utf8"));
  } catch {
    return resolverAddresses("");
  }
};

async function refusedTargets(ctx: VerifyContext): Promise<ProbeTarget[]> {
  return [...tableTargets(), ...hostPortTargets(ctx.spec, await ctx.observe.listeners())];
}

// A uid in the middle of the agent's subordinate range: what a container's mapped users run as.
export const subuidProbe = (spec: MoatSpec) => spec.host.subidStart + 5;

function refusedFromUid(id: string, who: string, uid: (spec: MoatSpec) => number): Check {
  return {
    id,
    title: `${who}: every address-table row and host port is refused`,
    required: true,
    run: async (ctx) => {
      const verdict = judgeRefused(await probeAsUid(uid(ctx.spec), await refusedTargets(ctx)));
      return verdict.ok ? pass(verdict.detail) : fail(verdict.detail, FIREWALL_FIX);
    },
  };
}

export const agentUidRefused = refusedFromUid("net.agent-uid", "the agent's uid", (s) => s.host.agentUid);
export const subuidRefused = refusedFromUid("net.subuid", "a uid of the agent's subuid range", subuidProbe);

export const containerRefused: Check = {
  id: "net.container",
  title: "inside the agent's container: every address-table row and host port is refused",
  required: true,
  run: async (ctx) => {
    if (!(await ctx.observe.container())?.State?.Running)
      return fail("the agent container is not running", "run `moat host apply --only agent`");
    const outcomes = await probeInContainer(ctx.observe, withoutOwnPort(ctx.spec, await refusedTargets(ctx)));
    if ("missing" in outcomes) return skip(outcomes.missing);
    const verdict = judgeRefused(outcomes);
    return verdict.ok ? pass(verdict.detail) : fail(verdict.detail, FIREWALL_FIX);
  },
};

export const dnsRefused: Check = {
  id: "net.dns",
  title: "DNS to any resolver is refused (names resolve only through the gateway)",
  required: true,
  run: async (ctx) => {
    const targets = dnsTargets(resolvers());
    const fromUid = await probeAsUid(ctx.spec.host.agentUid, targets);
    const running = (await ctx.observe.container())?.State?.Running;
    const inContainer = running ? await probeInContainer(ctx.observe, targets) : [];
    const all = "missing" in inContainer ? fromUid : [...fromUid, ...inContainer];
    const verdict = judgeRefused(all);
    const note = "missing" in inContainer ? ` (container not probed: ${inContainer.missing})` : "";
    return verdict.ok ? pass(verdict.detail + note) : fail(verdict.detail, FIREWALL_FIX);
  },
};

// A name with no wildcard to CONNECT to through the gateway: the first the operator listed. Not one
// llm or messengers imply: those are the gateway's own routes' and refused to the agent (implied.ts).
export const allowedProbeHost = (spec: MoatSpec) => spec.egress.allow.find((h) => !h.startsWith("*."));

export const gatewayReachable: Check = {
  id: "net.gateway",
  title: "the gateway is reachable, and an allowlisted domain through it",
  required: true,
  run: async (ctx) => {
    const { address, port } = ctx.spec.gateway;
    const host = allowedProbeHost(ctx.spec);
    const connectPort = ctx.spec.egress.connectPorts[0] ?? 443;
    const targets: ProbeTarget[] = [{ kind: "tcp", host: address, port }];
    if (host) targets.push({ kind: "connect", host: address, port, target: `${host}:${connectPort}` });
    const outcomes = await probeAsUid(ctx.spec.host.agentUid, targets, 5000);
    const [direct, tunnel] = outcomes;
    if (direct?.outcome !== "open")
      return fail(
        `the agent's uid cannot reach the gateway at ${address}:${port} (${direct?.outcome})`,
        "check `systemctl status moat-gateway` and `moat host apply --only gateway,firewall`",
      );
    const inside = await probeInContainer(ctx.observe, [{ kind: "tcp", host: address, port }]);
    if (!("missing" in inside) && inside[0]?.outcome !== "open")
      return fail(
        `the container cannot reach the gateway (${inside[0]?.outcome})`,
        "check the rootless Docker network (slirp4netns) and `moat host apply --only agent`",
      );
    if (!host) return pass(`gateway reachable at ${address}:${port}; no allowlisted domain to tunnel to`);
    if (tunnel?.outcome !== "200")
      return fail(
        `CONNECT ${host}:${connectPort} through the gateway answered ${tunnel?.outcome}`,
        "check the gateway's audit log (`moat gateway denials`) and the VM's DNS and egress",
      );
    return pass(
      `gateway reachable from the uid${"missing" in inside ? "" : " and the container"}; CONNECT ${host}:${connectPort} → 200`,
    );
  },
};

export const gatewayRefusesSpellings: Check = {
  id: "net.gateway-refuses",
  title: "the gateway refuses every dangerous spelling of metadata, loopback and private addresses",
  required: true,
  run: async (ctx) => {
    const { address, port } = ctx.spec.gateway;
    const connectPort = ctx.spec.egress.connectPorts[0] ?? 443;
    const cases = ADDRESS_CASES.filter((c) => c.expect !== "public");
    const targets: ProbeTarget[] = cases.map((c) => ({
      kind: "connect",
      host: address,
      port,
      target: `${c.host}:${connectPort}`,
    }));
    const outcomes = await probeAsUid(ctx.spec.host.agentUid, targets, 4000);
    const letThrough = outcomes.filter((o) => o.outcome !== "403" && o.outcome !== "400");
    if (letThrough.length)
      return fail(
        `not refused: ${letThrough.map((o) => `${o.target.target} → ${o.outcome}`).join(", ")}`,
        "reinstall Moat (`moat host apply --only gateway`); the gateway must classify every answer with the address table",
      );
    return pass(`${cases.length} spellings refused (403/400)`);
  },
};

// A name no allowlist holds (.invalid never resolves), for the fronted hello.
export const FRONTED_SNI = "fronted.moat-verify.invalid";
// What the gateway answers a refused ClientHello with (src/gateway/hello-reader.ts).
const REFUSED_HELLO = "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED";

// Issue 13: after an allowed CONNECT, a ClientHello naming another host must be refused, or a
// shared edge behind the allowlisted name would route the tunnel to any of its tenants.
export const gatewayChecksSni: Check = {
  id: "net.gateway-sni",
  title: "the gateway refuses a tunnel whose TLS SNI is not the name it was opened for",
  required: true,
  run: async (ctx) => {
    const { address, port } = ctx.spec.gateway;
    const host = allowedProbeHost(ctx.spec);
    const plain = new Set(ctx.spec.egress.plainConnectPorts);
    const tlsPort = ctx.spec.egress.connectPorts.find((p) => !plain.has(p));
    if (!host) return skip("no allowlisted domain to open a tunnel to");
    if (tlsPort === undefined) return skip("every egress.connectPorts port is in egress.plainConnectPorts");
    const target = `${host}:${tlsPort}`;
    const [o] = await probeAsUid(
      ctx.spec.host.agentUid,
      [{ kind: "connect-tls", host: address, port, target, sni: FRONTED_SNI }],
      5000,
    );
    const outcome = o?.outcome ?? "no-result";
    if (outcome === REFUSED_HELLO)
      return pass(`CONNECT ${target} then SNI ${FRONTED_SNI}: refused (TLS alert access_denied)`);
    // The tunnel itself not opening is net.gateway's finding, not this check's.
    if (/^\d{3}$/.test(outcome) && outcome !== "200")
      return skip(`CONNECT ${target} answered ${outcome}, so no tunnel to test (see net.gateway)`);
    return fail(
      `CONNECT ${target} then SNI ${FRONTED_SNI}: not refused by the gateway (${outcome}); the hello went upstream`,
      `remove ${tlsPort} from egress.plainConnectPorts if it carries TLS, and reinstall Moat (\`moat host apply --only gateway\`)`,
    );
  },
};

// A chat id no allowlist holds: Telegram's own service account id, negated into a group id.
export const strangerChat = (spec: MoatSpec) => {
  const t = spec.messengers.telegram;
  const taken = new Set([...(t?.allowFrom ?? []), ...(t?.allowChats ?? [])]);
  let id = -1009990000001;
  while (taken.has(id)) id--;
  return id;
};

export const telegramAllowlist: Check = {
  id: "gateway.telegram-allowlist",
  title: "the gateway's Telegram relay refuses to write to a stranger",
  required: true,
  run: async (ctx) => {
    if (!ctx.spec.messengers.telegram) return skip("messengers.telegram is not configured");
    const { address, port } = ctx.spec.gateway;
    const chat = strangerChat(ctx.spec);
    const [o] = await probeAsUid(
      ctx.spec.host.agentUid,
      [
        {
          kind: "post",
          host: address,
          port,
          path: `/telegram/bot${TELEGRAM_PLACEHOLDER_TOKEN}/sendMessage`,
          body: JSON.stringify({ chat_id: chat, text: "moat verify: this must never be sent" }),
        },
      ],
      5000,
    );
    if (o?.outcome === "403")
      return pass(`sendMessage to chat ${chat} refused with 403 before reaching Telegram`);
    return fail(
      `sendMessage to a stranger (chat ${chat}) was not refused: ${o ? label(o.target) : ""} answered ${o?.outcome}`,
      `restore messengers.telegram.allowFrom/allowChats in ${SPEC_ON_VM} and \`systemctl reload moat-gateway\``,
    );
  },
};
