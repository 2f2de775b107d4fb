// `moat logs`: the readable line for each kind of audit record, the --since/--denied filter,
// escaping of agent-controlled values (with the negative control: without the escape, the
// hostile record reaches the screen raw), and --follow across rotation and truncation.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { remoteLogsArgs } from "../../src/cli/logs.js";
import {
  type AuditRecord,
  formatRecord,
  isRefusal,
  keepRecord,
  parseAuditLine,
  terminalSafe,
} from "../../src/gateway/audit-format.js";
import { FileTail } from "../../src/gateway/audit-tail.js";
import { viewAudit } from "../../src/gateway/audit-view.js";

const T = "2026-12-03T16:22:53.123Z";
const egress = (over: AuditRecord): AuditRecord => ({
  time: T,
  client: "198.18.0.2",
  method: "CONNECT",
  host: "public.test",
  port: 443,
  decision: "allow",
  code: "allowed",
  reason: "allowlisted",
  status: 200,
  up: 10,
  down: 20,
  ms: 5,
  ...over,
});

// Every kind of line the gateway writes, as the owner reads it.
const CASES: [string, AuditRecord, string, boolean][] = [
  [
    "tunnel closed",
    egress({ addr: "93.184.215.14" }),
    "2026-12-03 16:22:53Z  198.18.0.2       CONNECT public.test:443 → 93.184.215.14  ALLOW  200, up 10 B, down 20 B, 5 ms",
    false,
  ],
  [
    "tunnel open",
    egress({ phase: "open", up: 0, down: 0 }),
    "2026-12-03 16:22:53Z  198.18.0.2       CONNECT public.test:443  OPEN  tunnel open",
    false,
  ],
  [
    "egress refused",
    egress({
      host: "other.test",
      decision: "deny",
      code: "not-allowlisted",
      reason: "other.test is not in egress.allow",
      status: 403,
    }),
    "2026-12-03 16:22:53Z  198.18.0.2       CONNECT other.test:443  DENY  not-allowlisted: other.test is not in egress.allow",
    true,
  ],
  [
    "address class refused",
    egress({
      method: "GET",
      host: "metadata.test",
      port: 80,
      addr: "169.254.169.254",
      decision: "deny",
      code: "class:metadata",
      reason: "resolves to the metadata service",
      status: 403,
    }),
    "2026-12-03 16:22:53Z  198.18.0.2       GET metadata.test:80 → 169.254.169.254  DENY  class:metadata: resolves to the metadata service",
    true,
  ],
  [
    "report mode pass",
    egress({ host: "other.test", decision: "report", code: "report-unlisted" }),
    "2026-12-03 16:22:53Z  198.18.0.2       CONNECT other.test:443  REPORT  report-unlisted (passed in report mode); 200, up 10 B, down 20 B, 5 ms",
    false,
  ],
  [
    "dns failure",
    egress({
      host: "missing.test",
      decision: "error",
      code: "nxdomain",
      reason: "no such name",
      status: 502,
    }),
    "2026-12-03 16:22:53Z  198.18.0.2       CONNECT missing.test:443  ERROR  nxdomain: no such name",
    false,
  ],
  [
    "sni mismatch",
    egress({
      sni: "evil.test",
      decision: "deny",
      code: "sni-mismatch",
      reason: "SNI evil.test is not public.test",
    }),
    "2026-12-03 16:22:53Z  198.18.0.2       CONNECT public.test:443 sni evil.test  DENY  sni-mismatch: SNI evil.test is not public.test",
    true,
  ],
  [
    "host apply's pull",
    egress({ listener: "pull", host: "registry-1.docker.io" }),
    "2026-12-03 16:22:53Z  host apply (pull)  CONNECT registry-1.docker.io:443  ALLOW  200, up 10 B, down 20 B, 5 ms",
    false,
  ],
  [
    "suppressed",
    {
      time: T,
      client: "198.18.0.2",
      decision: "suppressed",
      code: "audit-volume",
      reason: "12 lines (900 bytes) from 198.18.0.2 over the audit volume limit",
    },
    "2026-12-03 16:22:53Z  198.18.0.2       audit volume  SUPPRESSED  12 lines (900 bytes) from 198.18.0.2 over the audit volume limit",
    true,
  ],
  [
    "llm forwarded",
    {
      time: T,
      event: "llm.call",
      provider: "main",
      kind: "openai",
      model: "gpt-5.4",
      method: "POST",
      path: "/v1/chat/completions",
      status: 200,
      outcome: "forwarded",
      inputTokens: 12,
      outputTokens: 34,
      costUsd: 0.0012,
      spentTodayUsd: 0.5,
      durationMs: 812,
    },
    "2026-12-03 16:22:53Z  agent            llm main POST /v1/chat/completions (gpt-5.4)  ALLOW  200, 12 in / 34 out tokens, $0.0012 (today $0.5000), 812 ms",
    false,
  ],
  [
    "llm over budget",
    {
      time: T,
      event: "llm.call",
      provider: "main",
      method: "POST",
      path: "/v1/chat/completions",
      status: 429,
      outcome: "over_budget",
      reason: "daily budget for main is spent",
    },
    "2026-12-03 16:22:53Z  agent            llm main POST /v1/chat/completions  DENY  over_budget: daily budget for main is spent",
    true,
  ],
  [
    "telegram call",
    { time: T, event: "telegram.call", method: "sendMessage", chatId: 42, status: 200, durationMs: 30 },
    "2026-12-03 16:22:53Z  agent            telegram sendMessage chat 42  ALLOW  200, 30 ms",
    false,
  ],
  [
    "telegram refused",
    {
      time: T,
      event: "telegram.refuse",
      method: "forwardMessage",
      chatId: 7,
      reason: "chat 7 is not allowlisted",
    },
    "2026-12-03 16:22:53Z  agent            telegram forwardMessage chat 7  DENY  chat 7 is not allowlisted",
    true,
  ],
  [
    "telegram update dropped",
    {
      time: T,
      event: "telegram.drop",
      updateId: 5,
      updateType: "message",
      senderId: 666,
      chatId: 666,
      reason: "sender 666 is not in allowFrom",
    },
    "2026-12-03 16:22:53Z  tg:666           telegram update message chat 666  DENY  sender 666 is not in allowFrom",
    true,
  ],
];

describe("moat logs: the readable line", () => {
  for (const [name, record, line, refusal] of CASES) {
    test(name, () => {
      assert.equal(formatRecord(record), line);
      assert.equal(isRefusal(record), refusal, "counts under --denied");
    });
  }

  test("a line that is not JSON, or not an object, is skipped", () => {
    assert.equal(parseAuditLine("not json"), undefined);
    assert.equal(parseAuditLine("[1,2]"), undefined);
    assert.equal(parseAuditLine(""), undefined);
    assert.deepEqual(parseAuditLine('{"a":1}'), { a: 1 });
  });
});

describe("moat logs: --since and --denied", () => {
  const at = (iso: string, over: AuditRecord = {}) => egress({ time: iso, ...over });
  const since = Date.parse("2026-12-03T16:00:00Z");
  const table: [string, AuditRecord, { since?: number; denied?: boolean }, boolean][] = [
    ["no filter keeps everything", at("2020-01-01T00:00:00Z"), {}, true],
    ["at the cutoff is kept", at("2026-12-03T16:00:00.000Z"), { since }, true],
    ["before the cutoff is not", at("2026-12-03T15:59:59.999Z"), { since }, false],
    ["no time under --since is not", egress({ time: undefined }), { since }, false],
    ["an allow under --denied is not", at(T), { denied: true }, false],
    ["a deny under --denied is", at(T, { decision: "deny" }), { denied: true }, true],
    [
      "an old deny under both is not",
      at("2026-12-03T15:00:00Z", { decision: "deny" }),
      { since, denied: true },
      false,
    ],
  ];
  for (const [name, r, f, kept] of table) test(name, () => assert.equal(keepRecord(r, f), kept));
});

describe("moat logs: what the agent controls cannot drive the owner's terminal", () => {
  // A malformed target is logged with the agent's own bytes in its reason (cut by audit-bounds,
  // never cleaned): a clear-screen, a title change, a hidden-text colour, a bidi override, a fake
  // newline that would start a forged log line.
  const hostile = [
    "\x1b[2J\x1b[H",
    "\x1b]0;owned\x07",
    "\x1b[8m",
    "\u202eelif.txt",
    "\r\n2026-12-03 16:22:53Z  198.18.0.2  CONNECT bank.test:443  ALLOW",
    "\x9b31m",
    "a\\x1b",
  ].join("|");
  const record = egress({
    decision: "deny",
    code: "malformed",
    reason: `malformed target ${hostile}`,
    host: "",
    port: 0,
    sni: "\x1b[31mred",
  });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the test
  const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

  test("every control, bidi and line-break character comes out escaped, on one line", () => {
    const out = formatRecord(record);
    assert.doesNotMatch(out, CONTROL);
    assert.ok(!out.includes("\n"));
    assert.match(out, /\\x1b\[2J\\x1b\[H\|\\x1b\]0;owned\\x07\|\\x1b\[8m\|\\u202eelif\.txt\|\\x0d\\x0a2026/);
    assert.match(
      out,
      /\\x9b31m\|a\\\\x1b/,
      "C1 CSI escaped, and a typed backslash is told apart from an escape",
    );
  });

  test("negative control: without the escape the same record puts the sequences on screen", () => {
    const raw = formatRecord(record, { escape: (t) => t });
    assert.match(raw, CONTROL);
    assert.ok(raw.includes("\x1b[2J") && raw.includes("\n2026-12-03"));
  });

  test("terminalSafe leaves ordinary text, Unicode names included, alone", () => {
    for (const t of ["bücher.example", "日本.jp", "tab-free text: 200, up 10 B", "→ 93.184.215.14"])
      assert.equal(terminalSafe(t), t);
  });
});

describe("moat logs --follow", () => {
  const line = (n: number) => `${JSON.stringify(egress({ host: `h${n}.test` }))}\n`;
  const hosts = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { host: string }).host);

  test("follows appends, a rotation (the old file read to its end first) and a truncation", () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-tail-"));
    try {
      const file = join(dir, "audit.log");
      writeFileSync(file, line(0));
      const seen: string[] = [];
      const tail = new FileTail(file, (l) => seen.push(l), "end");
      appendFileSync(file, line(1));
      tail.poll();
      assert.deepEqual(hosts(seen), ["h1.test"]);
      // The writer's last buffered line lands in the renamed file after the rename (audit.ts).
      renameSync(file, `${file}.1`);
      appendFileSync(`${file}.1`, line(2));
      writeFileSync(file, line(3));
      tail.poll();
      assert.deepEqual(hosts(seen), ["h1.test", "h2.test", "h3.test"]);
      appendFileSync(`${file}.1`, line(4));
      appendFileSync(file, line(5));
      tail.poll();
      assert.deepEqual(hosts(seen).slice(3).sort(), ["h4.test", "h5.test"]);
      truncateSync(file, 0);
      appendFileSync(file, line(6));
      tail.poll();
      assert.equal(hosts(seen).at(-1), "h6.test");
      // A half-written line waits for its newline.
      appendFileSync(file, line(7).slice(0, 20));
      tail.poll();
      assert.equal(hosts(seen).at(-1), "h6.test");
      appendFileSync(file, line(7).slice(20));
      tail.poll();
      assert.equal(hosts(seen).at(-1), "h7.test");
      tail.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("history reads rotated files oldest first, then the current one, filtered", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-view-"));
    try {
      const file = join(dir, "audit.log");
      writeFileSync(`${file}.2`, line(1));
      writeFileSync(
        `${file}.1`,
        `${line(2)}garbage\n${JSON.stringify(egress({ host: "no.test", decision: "deny" }))}\n`,
      );
      writeFileSync(file, line(3));
      const all: string[] = [];
      await viewAudit({ file, filter: {}, follow: false }, (l) => all.push(l)).done;
      assert.deepEqual(hosts(all), ["h1.test", "h2.test", "no.test", "h3.test"]);
      const denied: string[] = [];
      await viewAudit({ file, filter: { denied: true }, follow: false }, (l) => denied.push(l)).done;
      assert.deepEqual(hosts(denied), ["no.test"]);
      // --json passes the line itself through, byte for byte.
      assert.equal(`${denied[0]}\n`, `${JSON.stringify(egress({ host: "no.test", decision: "deny" }))}\n`);
      assert.throws(
        () => viewAudit({ file: join(dir, "none.log"), filter: {}, follow: false }, () => {}),
        /no audit log at/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the VM side is always asked for JSON, so the operator's side escapes what it prints", () => {
    assert.deepEqual(remoteLogsArgs({ since: "1h", denied: true, follow: true }), [
      "logs",
      "--local",
      "--json",
      "--since",
      "1h",
      "--denied",
      "--follow",
      "--until-stdin-closes",
    ]);
    assert.deepEqual(remoteLogsArgs({}), ["logs", "--local", "--json"]);
  });
});
