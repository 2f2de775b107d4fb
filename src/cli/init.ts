import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as prompts from "@clack/prompts";
import { type Command, Option } from "commander";
import ipaddr from "ipaddr.js";
import {
  DEFAULT_MODELS,
  defaultAnswers,
  envExample,
  exampleSpecYaml,
  type InitAnswers,
} from "../spec/example.js";
import { formatErrors, parseSpec } from "../spec/load.js";
import { LLM_KINDS, type LlmKind } from "../spec/schema.js";
import { describeSender } from "../telegram/whoami.js";
import { askTheBot, botApi, DEFAULT_WAIT_S, dotEnvNextTo } from "./telegram.js";
import { CliFailure, paint } from "./util.js";

interface InitOptions {
  config: string;
  yes?: boolean;
  force?: boolean;
  target?: InitAnswers["target"];
  name?: string;
  region?: string;
  host?: string;
  user?: string;
  llm?: LlmKind;
  model?: string;
  baseUrl?: string;
  telegramUser?: string;
  allowFrom?: string;
  telegram: boolean;
  tailscale: boolean;
}

export function registerInit(program: Command): void {
  program
    .command("init")
    .description("write a commented moat.yaml and a .env.example (a wizard on a terminal; --yes for scripts)")
    .option("-c, --config <file>", "where to write moat.yaml", "moat.yaml")
    .option("-y, --yes", "no questions: write a complete working example from the flags and defaults")
    .option("--force", "overwrite an existing moat.yaml")
    .addOption(new Option("--target <kind>", "where the agent runs").choices(["oci", "aws", "ssh", "lab"]))
    .option("--name <name>", "deployment name")
    .option("--region <region>", "cloud region (oci, aws)")
    .option("--host <host>", "host to reach over SSH (ssh)")
    .option("--user <user>", "SSH user (ssh)")
    .addOption(new Option("--llm <kind>", "LLM provider kind").choices([...LLM_KINDS]))
    .option("--model <model>", "model id")
    .option("--base-url <url>", "API root for openai-compatible providers")
    .option("--telegram-user <id>", "numeric Telegram user id allowed to talk to the agent")
    .option(
      "--allow-from <cidr,...>",
      "addresses that may reach public SSH; on oci and aws, the one you deploy from (required with --yes)",
    )
    .option("--no-telegram", "no Telegram channel")
    .option("--no-tailscale", "no Tailscale access")
    .action(async (opts: InitOptions) => {
      if (existsSync(opts.config) && !opts.force) {
        throw new CliFailure(`${opts.config} exists; nothing was written (use --force to overwrite it)`);
      }
      const answers = opts.yes ? withDeployAddress(fromFlags(opts)) : await ask(opts);
      const yaml = exampleSpecYaml(answers);
      const parsed = parseSpec(yaml);
      if (!parsed.ok)
        throw new CliFailure(`the answers do not make a valid moat.yaml:\n${formatErrors(parsed.errors)}`);
      const envFile = join(dirname(opts.config), ".env.example");
      writeFileSync(opts.config, yaml);
      writeFileSync(envFile, envExample(parsed.spec));
      process.stdout.write(`${paint("green", "✓")} wrote ${opts.config} and ${envFile}\n`);
      process.stdout.write(`  next: fill in the secrets, then \`moat validate -c ${opts.config}\`\n`);
    });
}

function fromFlags(opts: InitOptions): InitAnswers {
  const base = defaultAnswers(opts.target ?? "lab");
  const llmKind = opts.llm ?? base.llmKind;
  const telegramUserId = opts.telegram ? (parseUserId(opts.telegramUser) ?? base.telegramUserId) : undefined;
  return {
    ...base,
    name: opts.name ?? base.name,
    region: opts.region ?? base.region,
    sshHost: opts.host ?? base.sshHost,
    sshUser: opts.user ?? base.sshUser,
    llmKind,
    model: opts.model ?? DEFAULT_MODELS[llmKind],
    llmBaseUrl: opts.baseUrl,
    telegramUserId,
    // The lab has no tailnet to join.
    tailscale: opts.tailscale && base.target !== "lab",
    allowFrom: opts.allowFrom === undefined ? [] : parseCidrs(opts.allowFrom, "--allow-from"),
  };
}

const isCloudTarget = (t: InitAnswers["target"]) => t === "oci" || t === "aws";

// The cloud firewall opens SSH only to access.allowFrom, and deploy needs SSH before Tailscale is
// up: an empty list is a spec deploy refuses, so init does not write one for a cloud.
const WHY_ALLOW_FROM =
  "deploy reaches the new VM over SSH before Tailscale is up, and the cloud firewall opens SSH only to access.allowFrom";

function withDeployAddress(a: InitAnswers): InitAnswers {
  if (isCloudTarget(a.target) && !a.allowFrom?.length)
    throw new CliFailure(
      `--target ${a.target} needs --allow-from: ${WHY_ALLOW_FROM}; pass the public address you deploy from, e.g. --allow-from 198.51.100.7/32`,
    );
  return a;
}

// Comma-separated CIDRs, each checked as the schema checks access.allowFrom.
function parseCidrs(text: string, field: string): string[] {
  const cidrs = text
    .split(",")
    .map((c) => c.trim())
    .filter(Boolean);
  if (!cidrs.length) throw new CliFailure(`${field}: no address given`);
  for (const c of cidrs)
    if (!ipaddr.isValidCIDR(c))
      throw new CliFailure(
        `${field}: "${c}" is not a CIDR; write an address with its prefix, e.g. 198.51.100.7/32`,
      );
  return cidrs;
}

function parseUserId(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,15}$/.test(text))
    throw new CliFailure(`--telegram-user: "${text}" is not a numeric Telegram user id`);
  return Number(text);
}

async function ask(opts: InitOptions): Promise<InitAnswers> {
  if (!process.stdin.isTTY) {
    throw new CliFailure(
      "stdin is not a terminal; run `moat init --yes` with flags (see `moat init --help`)",
    );
  }
  const answer = <T>(value: T): Exclude<T, symbol> => {
    if (prompts.isCancel(value)) {
      prompts.cancel("Nothing was written.");
      throw new CliFailure("cancelled");
    }
    return value as Exclude<T, symbol>;
  };
  prompts.intro("moat init");
  const base = fromFlags(opts);
  const target = answer(
    await prompts.select({
      message: "Where will the agent run?",
      initialValue: opts.target ?? "lab",
      options: [
        { value: "lab", label: "lab", hint: "a simulated cloud VM on this Linux machine" },
        { value: "oci", label: "Oracle Cloud", hint: "Ampere A1 Always Free" },
        { value: "aws", label: "AWS", hint: "free tier, t4g.small" },
        { value: "ssh", label: "an existing Ubuntu/Debian host over SSH" },
      ],
    }),
  ) as InitAnswers["target"];
  const defaults = { ...defaultAnswers(target), ...stripUndefined(base), target };
  const name = answer(
    await prompts.text({
      message: "Deployment name",
      initialValue: opts.name ?? defaults.name,
      validate: (v) =>
        /^[a-z][a-z0-9-]{0,30}$/.test(v ?? "") ? undefined : "lowercase letters, digits and -",
    }),
  );
  let region = defaults.region;
  let sshHost = defaults.sshHost;
  let sshUser = defaults.sshUser;
  if (target === "oci" || target === "aws") {
    region = answer(await prompts.text({ message: "Region", initialValue: region ?? "" }));
  }
  let allowFrom = defaults.allowFrom ?? [];
  if (isCloudTarget(target) && !allowFrom.length) {
    prompts.note(
      `${WHY_ALLOW_FROM}.\nYour public address is what a "what is my IP" page shows; add /32 (IPv4) or /128 (IPv6).`,
      "Where you deploy from",
    );
    const text = answer(
      await prompts.text({
        message: "Address you deploy from (CIDR; several comma-separated)",
        placeholder: "198.51.100.7/32",
        validate: (v) => {
          try {
            parseCidrs(v ?? "", "address");
            return undefined;
          } catch (err) {
            return (err as Error).message;
          }
        },
      }),
    );
    allowFrom = parseCidrs(text, "address");
  }
  if (target === "ssh") {
    sshHost = answer(await prompts.text({ message: "SSH host", initialValue: sshHost ?? "" }));
    sshUser = answer(await prompts.text({ message: "SSH user", initialValue: sshUser ?? "ubuntu" }));
  }
  const llmKind = answer(
    await prompts.select({
      message: "LLM provider",
      initialValue: defaults.llmKind,
      options: LLM_KINDS.map((k) => ({ value: k, label: k })),
    }),
  ) as LlmKind;
  const model = answer(await prompts.text({ message: "Model", initialValue: DEFAULT_MODELS[llmKind] }));
  const llmBaseUrl =
    llmKind === "openai-compatible"
      ? answer(await prompts.text({ message: "API base URL", initialValue: "https://llm.example.com/v1" }))
      : undefined;
  const useTelegram = answer(await prompts.confirm({ message: "Talk to the agent over Telegram?" }));
  const telegramUserId = useTelegram ? await askTelegramId(opts.config, answer) : undefined;
  const tailscale =
    target !== "lab" &&
    answer(await prompts.confirm({ message: "Reach the agent over Tailscale (no open ports)?" }));
  prompts.outro("Writing moat.yaml");
  return {
    name,
    target,
    region,
    sshHost,
    sshUser,
    llmKind,
    model,
    llmBaseUrl,
    telegramUserId,
    tailscale,
    allowFrom,
  };
}

type Answer = <T>(value: T) => Exclude<T, symbol>;

// Offers to find the id with the bot itself (one getUpdates call that confirms nothing, as
// `moat telegram whoami` does); typing it stays possible, and is the fallback.
async function askTelegramId(config: string, answer: Answer): Promise<number> {
  const how = answer(
    await prompts.select({
      message: "Your numeric Telegram user id (only it may talk to the agent)",
      options: [
        {
          value: "bot",
          label: "find it: I message my bot",
          hint: "needs TELEGRAM_BOT_TOKEN in the environment or .env",
        },
        { value: "type", label: "I know it; type it" },
      ],
    }),
  );
  if (how === "bot") {
    try {
      const senders = await askTheBot(botApi("TELEGRAM_BOT_TOKEN", dotEnvNextTo(config)), DEFAULT_WAIT_S);
      if (senders.length) {
        const id = answer(
          await prompts.select({
            message: "Which of these is you?",
            options: [
              ...senders.map((s) => ({ value: s.id, label: describeSender(s) })),
              { value: 0, label: "none of them; type it" },
            ],
          }),
        );
        if (id) return id;
      } else prompts.log.warn(`no message reached the bot within ${DEFAULT_WAIT_S} s`);
    } catch (err) {
      prompts.log.warn((err as Error).message);
    }
  }
  return Number(
    answer(
      await prompts.text({
        message: "Your numeric Telegram user id",
        validate: (v) => (/^\d{1,15}$/.test(v ?? "") ? undefined : "a number, e.g. 123456789"),
      }),
    ),
  );
}

const stripUndefined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
