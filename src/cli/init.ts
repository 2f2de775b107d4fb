import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as prompts from "@clack/prompts";
import { type Command, Option } from "commander";
import {
  DEFAULT_MODELS,
  defaultAnswers,
  envExample,
  exampleSpecYaml,
  type InitAnswers,
} from "../spec/example.js";
import { formatErrors, parseSpec } from "../spec/load.js";
import { LLM_KINDS, type LlmKind } from "../spec/schema.js";
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
    .option("--no-telegram", "no Telegram channel")
    .option("--no-tailscale", "no Tailscale access")
    .action(async (opts: InitOptions) => {
      if (existsSync(opts.config) && !opts.force) {
        throw new CliFailure(`${opts.config} exists; nothing was written (use --force to overwrite it)`);
      }
      const answers = opts.yes ? fromFlags(opts) : await ask(opts);
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
  };
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
  const telegramUserId = useTelegram
    ? Number(
        answer(
          await prompts.text({
            message: "Your numeric Telegram user id (only it may talk to the agent)",
            validate: (v) => (/^\d{1,15}$/.test(v ?? "") ? undefined : "a number, e.g. 123456789"),
          }),
        ),
      )
    : undefined;
  const tailscale =
    target !== "lab" &&
    answer(await prompts.confirm({ message: "Reach the agent over Tailscale (no open ports)?" }));
  prompts.outro("Writing moat.yaml");
  return { name, target, region, sshHost, sshUser, llmKind, model, llmBaseUrl, telegramUserId, tailscale };
}

const stripUndefined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
