// The one map from a failure to an exit code and a line: every error class Moat throws on purpose
// prints "moat [CODE]: message" and exits 1; commander's own errors keep their codes; anything
// else is a bug and keeps its stack.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { CommanderError } from "commander";
import { ERROR_CODES, EXIT, exitQuietlyOnClosedPipe, failureFor } from "../../src/cli/errors.js";
import { CliFailure } from "../../src/cli/util.js";
import { DeployFailed } from "../../src/deploy/deploy.js";
import { HostKeyMismatch } from "../../src/deploy/known-hosts.js";
import { DeployRefused } from "../../src/deploy/plan.js";
import { DeployProblem } from "../../src/deploy/problem.js";
import { PushFailed } from "../../src/deploy/push.js";
import { RemoteUnfit } from "../../src/deploy/remote.js";
import { SshUnavailable } from "../../src/deploy/ssh.js";
import { TofuMissing } from "../../src/deploy/tofu.js";
import { MoatError } from "../../src/errors.js";
import { AuditUnreadable } from "../../src/gateway/audit-view.js";
import { BodyRefused } from "../../src/gateway/body-budget.js";
import { DialError } from "../../src/gateway/dial.js";
import { UpstreamRefused } from "../../src/gateway/upstream/lookup.js";
import { UnsupportedHost } from "../../src/host/distro.js";
import { ActionFailed } from "../../src/host/execute.js";
import { KeyringUnreadable } from "../../src/host/openpgp.js";
import { LlmScriptError } from "../../src/lab/fakes/llm-script.js";
import { LabError } from "../../src/lab/lab.js";
import { SpecInvalid } from "../../src/spec/load.js";
import { SecretUnavailable } from "../../src/spec/secrets.js";
import { TelegramProblem } from "../../src/telegram/whoami.js";

// What the CLI can meet: [error, name, code].
const userFacing: [MoatError, string, string][] = [
  [new CliFailure("m"), "CliFailure", "MOAT_CLI"],
  [new SpecInvalid("moat.yaml", [{ path: "name", message: "m" }]), "SpecInvalid", "MOAT_SPEC_INVALID"],
  [new SecretUnavailable("m"), "SecretUnavailable", "MOAT_SECRET_UNAVAILABLE"],
  [new LabError("m"), "LabError", "MOAT_LAB"],
  [new UnsupportedHost("m"), "UnsupportedHost", "MOAT_HOST_UNSUPPORTED"],
  [new ActionFailed("m"), "ActionFailed", "MOAT_HOST_ACTION_FAILED"],
  [new KeyringUnreadable("m"), "KeyringUnreadable", "MOAT_KEYRING_UNREADABLE"],
  [new DeployProblem("m"), "DeployProblem", "MOAT_DEPLOY_PROBLEM"],
  [new DeployRefused("m"), "DeployRefused", "MOAT_DEPLOY_REFUSED"],
  [new TofuMissing("m"), "TofuMissing", "MOAT_DEPLOY_TOFU_MISSING"],
  [new SshUnavailable("m"), "SshUnavailable", "MOAT_DEPLOY_SSH_UNAVAILABLE"],
  [new HostKeyMismatch("m"), "HostKeyMismatch", "MOAT_DEPLOY_HOST_KEY_MISMATCH"],
  [new RemoteUnfit("m"), "RemoteUnfit", "MOAT_DEPLOY_REMOTE_UNFIT"],
  [new PushFailed("m"), "PushFailed", "MOAT_DEPLOY_PUSH_FAILED"],
  [new DeployFailed("m"), "DeployFailed", "MOAT_DEPLOY_FAILED"],
  [new TelegramProblem("m"), "TelegramProblem", "MOAT_TELEGRAM"],
  [new LlmScriptError("m"), "LlmScriptError", "MOAT_LAB_SCRIPT"],
  [new AuditUnreadable("m"), "AuditUnreadable", "MOAT_AUDIT_UNREADABLE"],
];

// Documented codes a user can look up; the predicate the coverage test uses.
const undocumented = (errors: MoatError[]) =>
  errors.filter((e) => !(e.code in ERROR_CODES)).map((e) => e.code);

describe("errors: name and stable code", () => {
  for (const [err, name, code] of userFacing) {
    test(`${name} is a MoatError named ${name} with code ${code}`, () => {
      assert.ok(err instanceof MoatError);
      assert.equal(err.name, name);
      assert.equal(err.code, code);
      assert.match(String(err.stack), new RegExp(`^${name}: `));
    });
  }

  test("deploy's problems are still DeployProblems (what deploy code catches)", () => {
    for (const [err] of userFacing.filter(([, n]) => n.startsWith("Deploy") || n.endsWith("Mismatch")))
      assert.ok(err instanceof DeployProblem, err.name);
  });

  test("every code the CLI can print is listed in --help", () => {
    assert.deepEqual(undocumented(userFacing.map(([e]) => e)), []);
    assert.equal(Object.keys(ERROR_CODES).length, userFacing.length, "a listed code no class has");
  });

  test("negative control: a class whose code is not listed is caught by the same check", () => {
    class Invented extends MoatError {
      override readonly name = "Invented";
      readonly code = "MOAT_INVENTED";
    }
    assert.deepEqual(undocumented([new Invented("m")]), ["MOAT_INVENTED"]);
  });

  test("the gateway's errors keep the codes their callers read", () => {
    assert.equal(new DialError("connect-timeout", "m").code, "connect-timeout");
    assert.equal(new DialError("connect-failed", "m").name, "DialError");
    assert.equal(new UpstreamRefused("m").code, "EMOATREFUSED");
    assert.equal(new UpstreamRefused("m").name, "UpstreamRefused");
    const body = new BodyRefused(413, "m");
    assert.equal(body.status, 413);
    assert.deepEqual([body.name, body.code], ["BodyRefused", "MOAT_BODY_REFUSED"]);
  });
});

describe("failureFor: exit code and what stderr shows", () => {
  const table: [string, unknown, number, RegExp | ""][] = [
    ["help", new CommanderError(0, "commander.helpDisplayed", "(outputHelp)"), EXIT.ok, ""],
    ["version", new CommanderError(0, "commander.version", "0.1.0"), EXIT.ok, ""],
    ["unknown option", new CommanderError(1, "commander.unknownOption", "x"), EXIT.usage, ""],
    ["bad choice", new CommanderError(1, "commander.invalidArgument", "x"), EXIT.usage, ""],
    [
      "cli failure",
      new CliFailure("moat.yaml exists"),
      EXIT.failed,
      /^moat \[MOAT_CLI\]: moat.yaml exists\n$/,
    ],
    [
      "invalid spec",
      new SpecInvalid("moat.yaml", [{ path: "agent.image", message: "pinned", line: 3 }]),
      EXIT.failed,
      /^moat \[MOAT_SPEC_INVALID\]: moat.yaml is not valid:\n.*✗ agent\.image \(line 3/,
    ],
    ["lab", new LabError("lab x is not up"), EXIT.failed, /^moat \[MOAT_LAB\]: lab x is not up\n$/],
    [
      "deploy subclass",
      new TofuMissing("no tofu"),
      EXIT.failed,
      /^moat \[MOAT_DEPLOY_TOFU_MISSING\]: no tofu\n$/,
    ],
    [
      "a bug",
      new TypeError("x is undefined"),
      EXIT.failed,
      /^moat: unexpected error: TypeError: x is undefined\n {4}at /,
    ],
    ["a thrown string", "boom", EXIT.failed, /^moat: unexpected error: boom\n$/],
    // An EPIPE from anything but our own stdout (an SSH channel, a socket) is not hidden.
    [
      "a stray EPIPE",
      Object.assign(new Error("write EPIPE"), { code: "EPIPE" }),
      EXIT.failed,
      /^moat: unexpected error: Error: write EPIPE/,
    ],
  ];
  for (const [what, err, exitCode, text] of table) {
    test(what, () => {
      const f = failureFor(err);
      assert.equal(f.exitCode, exitCode);
      if (text === "") assert.equal(f.text, "");
      else assert.match(f.text, text);
    });
  }

  test("colour goes only on the prefix", () => {
    const f = failureFor(new LabError("m"), (_s, t) => `<${t}>`);
    assert.equal(f.text, "<moat [MOAT_LAB]:> m\n");
  });
});

describe("a closed stdout", () => {
  const exitSpy = () => {
    const codes: number[] = [];
    const exit = ((code: number) => {
      codes.push(code);
      throw new Error("exited");
    }) as (code: number) => never;
    return { codes, exit };
  };

  test("EPIPE on the stream exits 0", () => {
    const stream = new EventEmitter() as NodeJS.WriteStream;
    const { codes, exit } = exitSpy();
    exitQuietlyOnClosedPipe(stream, exit);
    assert.throws(() => stream.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" })));
    assert.deepEqual(codes, [0]);
  });

  test("any other stream error is rethrown, not swallowed", () => {
    const stream = new EventEmitter() as NodeJS.WriteStream;
    const { codes, exit } = exitSpy();
    exitQuietlyOnClosedPipe(stream, exit);
    assert.throws(
      () => stream.emit("error", Object.assign(new Error("write EIO"), { code: "EIO" })),
      /write EIO/,
    );
    assert.deepEqual(codes, []);
  });
});
