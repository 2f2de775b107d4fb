import { type Command, Option } from "commander";
import { DEFAULT_AUDIT_LOG } from "../gateway/audit.js";
import { formatDenials, readAuditLines, summariseDenials } from "../gateway/denials.js";
import { parseDuration } from "../gateway/duration.js";
import { DEFAULT_LIMITS } from "../gateway/limits.js";
import { type GatewaySeams, runGateway } from "../gateway/run.js";
import { STATE_DIR } from "../render/paths.js";
import { CliFailure, configOption } from "./util.js";

interface GatewayFlags {
  config: string;
  listen?: string;
  metricsListen?: string;
  pullListen?: string;
  auditLog: string;
  dns?: string;
  dnsTimeout: string;
  connectTimeout: string;
  idleTimeout: string;
  headerTimeout: string;
  drainTimeout: string;
  bodyTimeout: string;
  maxHeaderSize: string;
  maxTunnelsPerClient: string;
  stateDir: string;
}

const ms = (v: number) => `${v / 1000}s`;

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new CliFailure(`${flag} must be a positive integer, got "${text}"`);
  return n;
}

function duration(text: string, flag: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new CliFailure(`${flag}: ${(err as Error).message}`);
  }
}

// `seams` is for the test entry that runs negative controls; the real CLI never passes it.
export function registerGateway(program: Command, seams?: GatewaySeams): void {
  const gateway = program
    .command("gateway")
    .description("run the egress gateway: the agent's only way out (allowlisted, SSRF-proof, audited)")
    .option(...configOption)
    .option(
      "--listen <host:port>",
      "where the agent reaches the gateway (default gateway.address:gateway.port)",
    )
    .option(
      "--metrics-listen <host:port|off>",
      "Prometheus metrics on loopback (default 127.0.0.1:gateway.metricsPort)",
    )
    .option(
      "--pull-listen <host:port|off>",
      "host apply's image pulls, registry hosts of agent.image only (default 127.0.0.1:gateway.port; off with --listen)",
    )
    .option(
      "--audit-log <file>",
      "audit trail, one JSON line per decision, rotated by size",
      DEFAULT_AUDIT_LOG,
    )
    .option("--dns <ip,...>", "resolver addresses to use instead of the system's")
    .option("--dns-timeout <duration>", "deadline for resolving a name (A and AAAA)", "5s")
    .option(
      "--connect-timeout <duration>",
      "deadline for connecting upstream",
      ms(DEFAULT_LIMITS.connectTimeoutMs),
    )
    .option(
      "--idle-timeout <duration>",
      "close tunnels and requests idle this long",
      ms(DEFAULT_LIMITS.idleTimeoutMs),
    )
    .option(
      "--header-timeout <duration>",
      "deadline for a client's request head, and for a tunnel's TLS ClientHello",
      ms(DEFAULT_LIMITS.headersTimeoutMs),
    )
    .option("--drain-timeout <duration>", "on SIGTERM, how long open tunnels may finish", "10s")
    .option("--body-timeout <duration>", "deadline for an LLM or Telegram request body to arrive", "60s")
    .option(
      "--max-header-size <bytes>",
      "largest request head accepted",
      String(DEFAULT_LIMITS.maxHeaderBytes),
    )
    .option(
      "--max-tunnels-per-client <n>",
      "open CONNECT tunnels per client address",
      String(DEFAULT_LIMITS.maxTunnelsPerClient),
    )
    .option("--state-dir <dir>", "where the LLM routes keep the day's spend", STATE_DIR)
    .addHelpText(
      "after",
      "\nSignals: SIGHUP re-reads moat.yaml and its secrets and applies all of it (egress, LLM routes,\n" +
        "budgets, Telegram allowlist) without dropping tunnels, or refuses all of it and keeps running as\n" +
        "before (a moved address or port needs a restart); SIGTERM stops accepting and drains open\n" +
        "tunnels within --drain-timeout.",
    )
    .action(async (flags: GatewayFlags) => {
      await runGateway(
        {
          config: flags.config,
          listen: flags.listen,
          metricsListen: flags.metricsListen,
          pullListen: flags.pullListen,
          auditLog: flags.auditLog,
          dns: flags.dns
            ?.split(",")
            .map((s) => s.trim())
            .filter(Boolean),
          dnsTimeoutMs: duration(flags.dnsTimeout, "--dns-timeout"),
          drainMs: duration(flags.drainTimeout, "--drain-timeout"),
          bodyDeadlineMs: duration(flags.bodyTimeout, "--body-timeout"),
          stateDir: flags.stateDir,
          limits: {
            connectTimeoutMs: duration(flags.connectTimeout, "--connect-timeout"),
            idleTimeoutMs: duration(flags.idleTimeout, "--idle-timeout"),
            headersTimeoutMs: duration(flags.headerTimeout, "--header-timeout"),
            maxHeaderBytes: positiveInt(flags.maxHeaderSize, "--max-header-size"),
            maxTunnelsPerClient: positiveInt(flags.maxTunnelsPerClient, "--max-tunnels-per-client"),
          },
        },
        seams,
      );
    });

  gateway
    .command("denials")
    .description("summarise recent refusals by host and reason, with a suggested egress.allow snippet")
    .option("--audit-log <file>", "the gateway's audit trail", DEFAULT_AUDIT_LOG)
    .option("--since <duration>", "how far back to look", "1h")
    .addOption(new Option("--json", "machine-readable output"))
    .action((flags: { since: string; json?: boolean }, cmd: Command) => {
      const sinceMs = duration(flags.since, "--since");
      // The parent `gateway` command parses --audit-log first wherever it is written (the root
      // program does not use positional options), so read the merged value.
      const auditLog = (cmd.optsWithGlobals() as { auditLog: string }).auditLog;
      let lines: string[];
      try {
        lines = readAuditLines(auditLog);
      } catch (err) {
        throw new CliFailure((err as Error).message);
      }
      const summary = summariseDenials(lines, sinceMs);
      process.stdout.write(
        flags.json ? `${JSON.stringify(summary, null, 2)}\n` : formatDenials(summary, auditLog, flags.since),
      );
    });
}
