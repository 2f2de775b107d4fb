// The one place a failure becomes an exit code and what the user reads. A MoatError is a problem
// Moat can explain: one line (its code, then its message). Anything else is a bug and keeps its
// stack. Command files throw; they do not catch and re-word each other's errors.
import { MoatError } from "../errors.js";
import { formatErrors, SpecInvalid } from "../spec/load.js";

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

// Every code a user can see, with what it means. A unit test holds each error class to this list.
export const ERROR_CODES: Record<string, string> = {
  MOAT_CLI: "a flag's value, a missing terminal or root, or a file in the way",
  MOAT_SPEC_INVALID: "moat.yaml does not parse or does not validate (every error is named by field)",
  MOAT_SECRET_UNAVAILABLE: "a secret moat.yaml references is not set, empty or unreadable",
  MOAT_LAB: "the lab cannot run here or is not up",
  MOAT_LAB_SCRIPT: "a lab model script (--script) does not parse or validate (the rule and field are named)",
  MOAT_AUDIT_UNREADABLE: "the gateway's audit log cannot be read (moat logs)",
  MOAT_HOST_UNSUPPORTED: "host apply runs on Debian 12/13 or Ubuntu 22.04/24.04, amd64 or arm64",
  MOAT_HOST_ACTION_FAILED: "a host apply step's command failed",
  MOAT_KEYRING_UNREADABLE: "a package signing key is not an OpenPGP keyring host apply can read",
  MOAT_DEPLOY_PROBLEM: "deploy cannot go on",
  MOAT_DEPLOY_REFUSED: "the spec is not deployable as written (e.g. access.allowFrom empty on a cloud)",
  MOAT_DEPLOY_TOFU_MISSING: "neither OpenTofu nor Terraform is installed",
  MOAT_DEPLOY_SSH_UNAVAILABLE: "the host did not answer SSH in time",
  MOAT_DEPLOY_HOST_KEY_MISMATCH: "the host's SSH key is not the one pinned at first contact",
  MOAT_DEPLOY_REMOTE_UNFIT: "the remote host lacks what deploy needs (sudo, Node, space)",
  MOAT_DEPLOY_PUSH_FAILED: "copying Moat, the bundle or the secrets to the host failed",
  MOAT_DEPLOY_FAILED: "a deploy step (tofu, host apply, verify) failed",
  MOAT_TELEGRAM: "the Bot API refused the token, or no message reached the bot in time",
};

export interface Failure {
  exitCode: number;
  // What goes to stderr; empty when someone else (commander) has already said it.
  text: string;
}

type Paint = (style: "red", text: string) => string;
const plain: Paint = (_style, text) => text;

export function failureFor(err: unknown, paint: Paint = plain): Failure {
  const commander = (err as { code?: unknown }).code;
  if (typeof commander === "string" && commander.startsWith("commander.")) {
    const shown = commander === "commander.helpDisplayed" || commander === "commander.version";
    return { exitCode: shown ? EXIT.ok : EXIT.usage, text: "" };
  }
  if (err instanceof SpecInvalid) {
    const head = paint("red", `moat [${err.code}]: ${err.file} is not valid:`);
    return { exitCode: EXIT.failed, text: `${head}\n${formatErrors(err.errors)}\n` };
  }
  if (err instanceof MoatError) {
    return { exitCode: EXIT.failed, text: `${paint("red", `moat [${err.code}]:`)} ${err.message}\n` };
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { exitCode: EXIT.failed, text: `${paint("red", "moat: unexpected error:")} ${detail}\n` };
}

const codeLines = Object.entries(ERROR_CODES)
  .map(([code, meaning]) => `  ${code.padEnd(30)} ${meaning}`)
  .join("\n");

export const exitCodesHelp = `
Exit codes:
  0  success (also when whoever reads the output stops early, as \`| head\` does)
  1  the command ran and found a problem (invalid spec, failed check)
  2  usage error (unknown option, missing argument)

Errors print as "moat [CODE]: message"; the codes are stable:
${codeLines}
`;

// A reader that went away (`moat … | head -1`) is not a failure: stop writing and exit 0, as the
// output asked for has been delivered. Only the process's own stdout and stderr get this; an
// EPIPE anywhere else (an SSH channel, a socket) is a real error and is not hidden.
export function exitQuietlyOnClosedPipe(
  stream: NodeJS.WriteStream,
  exit: (code: number) => never = process.exit,
): void {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") exit(EXIT.ok);
    throw err;
  });
}
