// `moat telegram whoami`: the owner's numeric id, for messengers.telegram.allowFrom.
import { dirname, join } from "node:path";
import type { Command } from "commander";
import {
  type BotApi,
  botName,
  describeSender,
  readBotToken,
  type Sender,
  TELEGRAM_API_ENV,
  TelegramProblem,
  telegramApiBase,
  waitForSenders,
} from "../telegram/whoami.js";
import { CliFailure, paint } from "./util.js";

export const DEFAULT_WAIT_S = 90;

function waitSeconds(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 600)
    throw new CliFailure(`--timeout: "${text}" is not a whole number of seconds from 1 to 600`);
  return n;
}

export function botApi(tokenEnv: string, envFile: string): BotApi {
  const { base, seam } = telegramApiBase(process.env);
  if (seam)
    process.stderr.write(`${paint("yellow", "!")} Bot API at ${base} (${TELEGRAM_API_ENV}, for tests)\n`);
  return { base, token: readBotToken(tokenEnv, process.env, envFile) };
}

// Says which bot to write to, then waits once. Progress goes to stderr, the answer to stdout.
export async function askTheBot(api: BotApi, timeoutS: number): Promise<Sender[]> {
  const bot = await botName(api);
  process.stderr.write(
    `Send any message to ${bot} from your own Telegram account; waiting up to ${timeoutS} s…\n`,
  );
  return waitForSenders(api, timeoutS);
}

export function registerTelegram(program: Command): void {
  const telegram = program.command("telegram").description("help with the Telegram bot");
  telegram
    .command("whoami")
    .description(
      "print the numeric id of whoever messages the bot (for messengers.telegram.allowFrom); confirms no update, so the message still reaches the agent later",
    )
    .option(
      "--token-env <name>",
      "the variable holding the bot token (read from the environment, else --env-file)",
      "TELEGRAM_BOT_TOKEN",
    )
    .option("--env-file <file>", "a .env file to read the token from when the variable is not set", ".env")
    .option("--timeout <seconds>", "how long to wait for the message", String(DEFAULT_WAIT_S))
    .action(async (opts: { tokenEnv: string; envFile: string; timeout: string }) => {
      const timeoutS = waitSeconds(opts.timeout);
      const senders = await askTheBot(botApi(opts.tokenEnv, opts.envFile), timeoutS);
      if (!senders.length)
        throw new TelegramProblem(
          `no message reached the bot within ${timeoutS} s; send one and run this again`,
        );
      for (const s of senders) process.stdout.write(`${describeSender(s)}\n`);
      const ids = senders.map((s) => s.id).join(", ");
      process.stderr.write(
        `${senders.length > 1 ? "Several people wrote; keep only your own id" : "If that is you"}, in moat.yaml:\n  messengers: { telegram: { allowFrom: [${ids}] } }\n`,
      );
    });
}

export const dotEnvNextTo = (config: string) => join(dirname(config), ".env");
