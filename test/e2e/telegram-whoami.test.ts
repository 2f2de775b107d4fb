// `moat telegram whoami` and `moat init` against the lab's fake Bot API on loopback: the owner's id
// is found with one getUpdates call that confirms nothing, the token is never printed, and the
// testing seam refuses anything but loopback. `init --yes` for a cloud refuses without --allow-from.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FakeTelegram } from "../../src/lab/fakes/telegram.js";
import { makeTestPki } from "../../src/lab/pki.js";

const BIN = join(import.meta.dirname, "../../bin/moat.js");
const TOKEN = "7777777:AAFakeTokenForTheWhoamiTest_0123456789";
const OWNER = { id: 424242, is_bot: false, first_name: "Ada", last_name: "Owner", username: "ada" };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function moat(args: string[], env: Record<string, string>, cwd?: string): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

describe("moat telegram whoami", () => {
  const dir = mkdtempSync(join(tmpdir(), "moat-whoami-"));
  const pki = makeTestPki(["localhost"]);
  const fake = new FakeTelegram(pki, TOKEN);
  let env: Record<string, string>;

  before(async () => {
    writeFileSync(join(dir, "ca.pem"), pki.ca);
    const port = await fake.listen("127.0.0.1");
    env = {
      MOAT_TELEGRAM_API: `https://localhost:${port}`,
      NODE_EXTRA_CA_CERTS: join(dir, "ca.pem"),
      TELEGRAM_BOT_TOKEN: "",
    };
  });
  after(() => fake.close());

  test("prints the sender of the first message, with one getUpdates that confirms nothing", async () => {
    writeFileSync(join(dir, ".env"), `# from BotFather\nTELEGRAM_BOT_TOKEN=${TOKEN}\n`);
    const polls = fake.callsTo("getUpdates").length;
    const run = moat(["telegram", "whoami", "--timeout", "20"], env, dir);
    // The owner writes while whoami is long-polling.
    while (fake.callsTo("getUpdates").length === polls) await new Promise((r) => setTimeout(r, 50));
    const [id] = fake.push({
      message: {
        message_id: 1,
        date: 1,
        chat: { id: OWNER.id, type: "private" },
        from: OWNER,
        text: "/start",
      },
    });
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "424242 (Ada Owner, @ada)\n");
    assert.match(r.stderr, /Send any message to @moat_test_bot/);
    assert.match(r.stderr, /allowFrom: \[424242\]/);
    const calls = fake.callsTo("getUpdates").slice(polls);
    assert.equal(calls.length, 1, "getUpdates is called once");
    assert.deepEqual(Object.keys(calls[0]?.params ?? {}), ["timeout"], "no offset, no allowed_updates");
    // The message is still queued for the gateway (and so the agent) to read later.
    assert.deepEqual(fake.pendingIds(), [id]);
    assert.equal(fake.confirmedBelow, 0);
    for (const out of [r.stdout, r.stderr])
      assert.ok(!out.includes(TOKEN.split(":")[1] as string), "token printed");
  });

  test("a second run finds the same message: the first consumed nothing", async () => {
    const queued = fake.pendingIds();
    const r = await moat(
      ["telegram", "whoami", "--timeout", "1"],
      { ...env, TELEGRAM_BOT_TOKEN: TOKEN },
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "424242 (Ada Owner, @ada)\n");
    assert.deepEqual(fake.pendingIds(), queued);
  });

  test("no message in time: exit 1 naming the wait", async () => {
    const empty = new FakeTelegram(pki, TOKEN);
    const port = await empty.listen("127.0.0.1");
    try {
      const r = await moat(
        ["telegram", "whoami", "--timeout", "1"],
        { ...env, MOAT_TELEGRAM_API: `https://localhost:${port}`, TELEGRAM_BOT_TOKEN: TOKEN },
        dir,
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^moat \[MOAT_TELEGRAM\]: no message reached the bot within 1 s/m);
      assert.equal(empty.callsTo("getUpdates").length, 1);
    } finally {
      await empty.close();
    }
  });

  test("a refused token: exit 1 with a clear line, the token not in it", async () => {
    const wrong = "7777777:AAWrongTokenWrongTokenWrongToken_xyz";
    const r = await moat(
      ["telegram", "whoami", "--timeout", "1"],
      { ...env, TELEGRAM_BOT_TOKEN: wrong },
      dir,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^moat \[MOAT_TELEGRAM\]: the Bot API refused the token \(401/m);
    assert.ok(!r.stderr.includes("AAWrongToken"), r.stderr);
  });

  test("the seam refuses a non-loopback Bot API before sending anything", async () => {
    const calls = fake.calls.length;
    const r = await moat(
      ["telegram", "whoami"],
      { ...env, MOAT_TELEGRAM_API: "https://api.example.com" },
      dir,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /MOAT_TELEGRAM_API is a testing seam .* refuses https:\/\/api\.example\.com/);
    assert.equal(fake.calls.length, calls);
  });

  test("a token that is not a token is refused by shape, not echoed", async () => {
    const r = await moat(
      ["telegram", "whoami"],
      { ...env, TELEGRAM_BOT_TOKEN: "secret/../../x" },
      join(dir, ".."),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not look like a bot token/);
    assert.ok(!r.stderr.includes("secret/"));
  });
});

describe("moat init for a cloud asks where deploy connects from", () => {
  const init = (dir: string, ...args: string[]) =>
    spawnSync(process.execPath, [BIN, "init", "--yes", ...args], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });

  for (const target of ["oci", "aws"]) {
    test(`--target ${target} without --allow-from: exit 1, saying why`, () => {
      const dir = mkdtempSync(join(tmpdir(), "moat-init-"));
      const r = init(dir, "--target", target);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /needs --allow-from: deploy reaches the new VM over SSH/);
    });
  }

  test("--allow-from is validated as a CIDR and written to access.allowFrom", () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-init-"));
    const bad = init(dir, "--target", "oci", "--allow-from", "198.51.100.7");
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--allow-from: "198\.51\.100\.7" is not a CIDR/);
    const good = init(dir, "--target", "oci", "--allow-from", "198.51.100.7/32, 2001:db8::1/128");
    assert.equal(good.status, 0, good.stderr);
    assert.match(
      readFileSync(join(dir, "moat.yaml"), "utf8"),
      /allowFrom: \["198\.51\.100\.7\/32", "2001:db8::1\/128"\]/,
    );
  });
});
